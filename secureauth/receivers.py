"""Signal receivers, connected in ``SecureAuthConfig.ready()``."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import Account


@receiver(post_save, sender=get_user_model(), dispatch_uid="secureauth.sync_email_key")
def sync_email_key(sender, instance, created: bool, update_fields=None, raw=False, **kwargs):
    """Every user, however it was made (register, createsuperuser, the admin, a
    fixture), gets its canonical email key; a changed address moves the key."""
    if raw:
        return
    field = sender.get_email_field_name()
    if not created and update_fields is not None and field not in update_fields:
        return
    Account.objects.sync_email_key(instance, getattr(instance, field, None))
