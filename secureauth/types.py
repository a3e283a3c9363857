"""Names for type checkers (nothing here exists at run time: import them under
``if TYPE_CHECKING:``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from django.contrib.auth.models import _User

    #: The host project's user model (AUTH_USER_MODEL). django-stubs expands ``_User``
    #: to the model named by the settings mypy runs with (``tests.settings``: Django's
    #: ``auth.User``), so a ``UserType`` matches ``get_user_model()``, ``request.user``
    #: and the ``user`` foreign keys. SecureAuth itself only relies on what
    #: ``checks.user_model_errors`` requires of any model (an email field, ``groups``)
    #: and on ``AbstractBaseUser``: the tests run it with three user models.
    UserType: TypeAlias = _User
