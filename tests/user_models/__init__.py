"""Alternative user models, and the settings that run the core flows with each.

``tests/test_user_models.py`` runs ``flows.py`` in a pytest subprocess per settings
module (``AUTH_USER_MODEL`` cannot change inside one Django process):

- ``settings_email``: ``EmailUser``, the email is the ``USERNAME_FIELD``, no ``username``;
- ``settings_handle``: ``HandleUser``, a short handle is the ``USERNAME_FIELD``, the email
  an ordinary field (``EMAIL_FIELD = "email"``);
- ``settings_broken``: ``broken.NoEmailNoGroupsUser``, which ``manage.py check`` refuses.
"""
