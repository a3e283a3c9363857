"""Signal receivers, connected in ``SecureAuthConfig.ready()``."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.signals import request_finished, request_started
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django.dispatch import receiver
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import session_cache
from .mail import hold_until_response, release_after_response
from .models import Account
from .models.totp import SealedTOTPDevice
from .models.users import VerifiedEmail

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


# The shared session cache (secureauth/session_cache.py) holds each session's user row
# and SecurityState; any change to them makes that user's cached sessions stale. These
# receivers catch changes made anywhere (the API, the admin, host code, fixtures);
# revocations publish from SessionQuerySet.revoke() and credential changes from
# Account.objects.bump_epoch(). A change made with QuerySet.update() sends no signal:
# code doing that calls session_cache.user_changed(user_id) itself.


def _user_changed(*user_ids) -> None:
    session_cache.user_changed(*user_ids, quiet=True)


@receiver(post_save, sender=get_user_model(), dispatch_uid="secureauth.cache.user_saved")
@receiver(post_delete, sender=get_user_model(), dispatch_uid="secureauth.cache.user_deleted")
def user_row_changed(sender, instance, created: bool = False, update_fields=None, **kwargs):
    if created:
        return  # a new user has no session yet
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # django.contrib.auth's update_last_login: nothing a request relies on
    _user_changed(instance.pk)


def roles_changed(sender, instance, action: str, reverse: bool, pk_set=None, **kwargs):
    """``user.groups.add(...)`` (instance: a user) or ``group.user_set.add(...)``
    (instance: a group, ``pk_set``: users); ``clear()`` from the group side names no
    users, so they are read before it."""
    if not action.startswith("post_") and action != "pre_clear":
        return
    if not reverse:
        if action != "pre_clear":
            _user_changed(instance.pk)
        return
    if action == "pre_clear" and session_cache.enabled():
        _user_changed(*instance.user_set.values_list("pk", flat=True))
    elif pk_set:
        _user_changed(*pk_set)


_groups = getattr(get_user_model(), "groups", None)
if _groups is not None:  # a user model without groups is reported by checks.py
    m2m_changed.connect(
        roles_changed, sender=_groups.through, dispatch_uid="secureauth.cache.roles"
    )


@receiver(post_save, sender=Group, dispatch_uid="secureauth.cache.group_saved")
@receiver(pre_delete, sender=Group, dispatch_uid="secureauth.cache.group_deleted")
def group_changed(sender, instance, created: bool = False, **kwargs):
    """A renamed or deleted group changes the roles of its members."""
    if not created and session_cache.enabled():
        _user_changed(*instance.user_set.values_list("pk", flat=True))


def _factor_changed(sender, instance, **kwargs):
    _user_changed(getattr(instance, "user_id", None))


# SecureAuth's own devices are the SealedTOTPDevice proxy, whose signals name the proxy.
for _model in (TOTPDevice, SealedTOTPDevice, VerifiedEmail):
    post_save.connect(
        _factor_changed, sender=_model, dispatch_uid=f"secureauth.cache.{_model.__name__}.save"
    )
    post_delete.connect(
        _factor_changed, sender=_model, dispatch_uid=f"secureauth.cache.{_model.__name__}.del"
    )
