"""Signal receivers, connected in ``SecureAuthConfig.ready()``."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.signals import request_finished, request_started
from django.db.models.signals import post_save
from django.dispatch import receiver

from .mail import hold_until_response, release_after_response
from .models import Account

# Background mail of a request goes out after its response (secureauth.mail).
request_started.connect(hold_until_response, dispatch_uid="secureauth.mail.hold")
request_finished.connect(release_after_response, dispatch_uid="secureauth.mail.release")


@receiver(post_save, sender=get_user_model(), dispatch_uid="secureauth.sync_email_key")
def sync_email_key(sender, instance, created: bool, update_fields=None, using=None, **kwargs):
    """Every user, however it was made (register, createsuperuser, the admin, a
    fixture), gets its canonical email key; a changed address moves the key.

    Fixtures too: ``loaddata`` saves users raw, and a fixture of users alone would
    otherwise load users no lookup can find. A fixture that holds the accounts as well
    (``dumpdata``) overwrites these rows as it loads them."""
    field = sender.get_email_field_name()
    if not created and update_fields is not None and field not in update_fields:
        return
    Account.objects.db_manager(using).sync_email_key(instance, getattr(instance, field, None))
