"""SecureAuth's own row for each user: the canonical email key and the credential epoch.

The host project owns the user model, so what SecureAuth must know of every user
and keep unique lives here, one row per user:

- ``email_key``: the canonical form of the user's email (``secureauth.emails``),
  unique, the only thing accounts are found by. NULL when the address has no
  canonical form or another account already holds that key (reported, never merged).
- ``credential_epoch``: bumped by every credential change (password changed or
  reset, a second factor added); a sign-in that passed its checks under an older
  epoch commits no session.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, models, router, transaction

from .. import session_cache
from ..emails import MAX_KEY_LENGTH, InvalidEmail, canonical_email
from .prepared import PreparedLookup, concrete_field

if TYPE_CHECKING:
    from ..client import DeviceInfo
    from ..types import UserType

logger = logging.getLogger("secureauth")


def email_key_of(email: str | None) -> str | None:
    """The canonical key of an address, or None when it has none."""
    if not email:
        return None
    try:
        return canonical_email(email)
    except InvalidEmail:
        return None


class AccountQuerySet(models.QuerySet["Account"]):
    def sync_email_key(self, user: UserType, email: str | None) -> None:
        """Create or update the user's row so its key matches ``email``. A key another
        account holds is not taken: the row keeps NULL and the collision is logged."""
        key = email_key_of(email)
        try:
            # QuerySet._db (the alias given to .using()) is private, so not in django-stubs.
            using = self._db or router.db_for_write(self.model)  # type: ignore[attr-defined]
            with transaction.atomic(using=using):
                self.update_or_create(user_id=user.pk, defaults={"email_key": key})
        except IntegrityError:
            logger.warning(
                "secureauth: user %s has the email key of another account; it cannot "
                "sign in by email until one of the addresses changes",
                user.pk,
            )
            self.update_or_create(user_id=user.pk, defaults={"email_key": None})

    def lock(self, user: UserType) -> Account:
        """The user's row, locked until the end of the transaction (created if missing):
        the one way to serialize changes to one user's credentials, factors and roles."""
        rows = self.select_for_update().filter(user_id=user.pk)
        account = next(iter(rows[:1]), None)  # unique: no ORDER BY
        if account is None:
            self.get_or_create(user_id=user.pk)
            account = rows.get()
        return account

    def lock_for_sign_in(self, user: UserType, device: DeviceInfo, since: datetime) -> Account:
        """``lock(user)`` for a sign-in, which also reads in the same query whether the
        user signed in since ``since`` from this device kind (``sa_device_seen``)."""
        values = (user.pk, device.browser[:64], device.os[:64], device.type, since)
        account = _SIGN_IN_LOCK.first(*values)
        if account is None:
            self.get_or_create(user_id=user.pk)
            account = _SIGN_IN_LOCK.first(*values)
            assert account is not None
        return account

    def key_taken(self, key: str) -> bool:
        return self.filter(email_key=key).exists()

    def holds_key(self, user: UserType, key: str) -> bool:
        return self.filter(pk=user.pk, email_key=key).exists()

    def epoch_of(self, user: UserType) -> int:
        value = self.filter(user_id=user.pk).values_list("credential_epoch", flat=True).first()
        return int(value or 0)

    def bump_epoch(self, user: UserType) -> int:
        """Start a new credential epoch (inside the caller's transaction); returns it."""
        account = self.lock(user)
        self.filter(pk=account.pk).update(credential_epoch=models.F("credential_epoch") + 1)
        session_cache.user_changed(user.pk)
        return account.credential_epoch + 1


def _sign_in_lock(user_id: Any, browser: Any, os: Any, device_type: Any, since: Any) -> Any:
    from .sessions import Session

    seen = Session.objects.device_seen_since(browser, os, device_type, since)
    rows = Account.objects.select_for_update().filter(user_id=user_id)
    return rows.annotate(sa_device_seen=seen)[:1]  # unique: no ORDER BY


def _sign_in_lock_fields() -> list[models.Field]:
    from .sessions import Session

    columns = ("browser", "os", "device_type", "created_at")
    return [concrete_field(Account, "user"), *(concrete_field(Session, name) for name in columns)]


# Compiled once: the sign-in's lock and new-device check cost more to build than to run.
_SIGN_IN_LOCK: PreparedLookup[Account] = PreparedLookup(
    "account_sign_in_lock", _sign_in_lock, _sign_in_lock_fields
)


class Account(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="secureauth_account",
    )
    # NULL, not "": accounts without a key must not collide in the unique constraint.
    email_key = models.CharField(max_length=MAX_KEY_LENGTH, null=True, blank=True)  # noqa: DJ001
    credential_epoch = models.PositiveIntegerField(default=0)

    objects = AccountQuerySet.as_manager()

    # Indexes and unique constraints in Meta, not on the field: an indexed CharField
    # gets a second, ``varchar_pattern_ops`` index on PostgreSQL that no exact lookup uses.
    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["email_key"], name="secureauth_account_email_key")
        ]

    def __str__(self) -> str:
        return self.email_key or f"account {self.pk}"
