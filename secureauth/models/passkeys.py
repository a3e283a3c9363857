"""WebAuthn passkeys and the server-side challenges of their ceremonies."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from .ids import pk_from_path

if TYPE_CHECKING:
    from ..types import UserType


def credential_id_digest(credential_id: bytes) -> str:
    """SHA-256 hex of a credential id: the indexed, fixed-length key of a passkey."""
    return hashlib.sha256(credential_id).hexdigest()


class PasskeyQuerySet(models.QuerySet["Passkey"]):
    def of(self, user: UserType) -> PasskeyQuerySet:
        return self.filter(user=user).order_by("-created_at")

    def with_credential_id(self, credential_id: bytes) -> Passkey | None:
        """The passkey (and its user) registered under this credential id, or None."""
        return (
            self.select_related("user")
            .filter(credential_id_hash=credential_id_digest(credential_id))
            .first()
        )

    def own(self, user: UserType, passkey_id: Any) -> Passkey | None:
        """One of the user's passkeys by id; None if unknown, malformed or another user's."""
        pk = pk_from_path(Passkey, passkey_id)
        return None if pk is None else self.filter(user=user, pk=pk).first()

    def remove(self, passkey: Passkey) -> bool:
        """Delete one passkey; False if it was already gone."""
        deleted, _ = self.filter(pk=passkey.pk).delete()
        return bool(deleted)

    def user_handle_of(self, user: UserType) -> bytes | None:
        """The WebAuthn user handle already given to the user's authenticators, if any."""
        handle = self.filter(user=user).order_by("created_at").values_list("user_handle", flat=True)
        first = handle.first()
        return bytes(first) if first else None

    def record_use(self, passkey: Passkey, sign_count: int, backed_up: bool, now: datetime) -> bool:
        """Store an assertion's signature counter; False if it did not go up (a clone).

        One conditional update, so two concurrent assertions carrying the same
        counter cannot both win. A counter of 0 on a credential that has only
        ever reported 0 means the authenticator keeps no counter: accepted."""
        rows = self.filter(pk=passkey.pk)
        if sign_count == 0:
            rows = rows.filter(sign_count=0)
        else:
            rows = rows.filter(sign_count__lt=sign_count)
        return bool(rows.update(sign_count=sign_count, backed_up=backed_up, last_used_at=now))


class Passkey(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="secureauth_passkeys"
    )
    name = models.CharField(max_length=128, blank=True)
    credential_id = models.BinaryField(max_length=1023)
    credential_id_hash = models.CharField(max_length=64)
    public_key = models.BinaryField()
    # The random WebAuthn user.id given to the authenticator (never the primary key).
    user_handle = models.BinaryField(max_length=64)
    sign_count = models.BigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    aaguid = models.CharField(max_length=64, blank=True)
    # Backup eligible: a synced (multi-device) passkey rather than a device-bound key.
    backup_eligible = models.BooleanField(default=False)
    backed_up = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = PasskeyQuerySet.as_manager()

    # Indexes and unique constraints in Meta, not on the field: an indexed CharField
    # gets a second, ``varchar_pattern_ops`` index on PostgreSQL that no exact lookup uses.
    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["credential_id_hash"], name="secureauth_passkey_credential"
            )
        ]

    def __str__(self) -> str:
        return self.name or f"passkey {self.pk}"


class WebAuthnChallengeQuerySet(models.QuerySet["WebAuthnChallenge"]):
    def spend(self, challenge_id: Any, purpose: str, now: datetime) -> WebAuthnChallenge | None:
        """Consume a pending challenge once; None if unknown, used or expired."""
        try:
            found = self.get(pk=challenge_id, purpose=purpose)
        except (WebAuthnChallenge.DoesNotExist, ValidationError, ValueError):
            return None
        return found if self._claim(found, now) else None

    def spend_for_user(
        self, user: UserType, challenge: bytes, purpose: str, now: datetime
    ) -> WebAuthnChallenge | None:
        """Consume the user's pending challenge with these bytes once; None otherwise."""
        found = self.filter(user=user, purpose=purpose, challenge=challenge).first()
        if found is None:
            return None
        return found if self._claim(found, now) else None

    def _claim(self, found: WebAuthnChallenge, now: datetime) -> bool:
        rows = self.filter(pk=found.pk, used_at__isnull=True, expires_at__gt=now)
        return bool(rows.update(used_at=now))

    def expired(self, now: datetime) -> WebAuthnChallengeQuerySet:
        """Challenges that can no longer be used (for cleanup)."""
        return self.filter(models.Q(expires_at__lte=now) | models.Q(used_at__isnull=False))


class WebAuthnChallenge(models.Model):
    REGISTER = "register"
    LOGIN = "login"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.CharField(max_length=16)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    challenge = models.BinaryField(max_length=64)
    # Sign-in only: only ``user``'s passkeys may answer (an email was given, or a
    # signed-in user re-authenticates); with no ``user``, none may.
    restricted = models.BooleanField(default=False)
    # Registration only: the user handle the creation options carried.
    user_handle = models.BinaryField(max_length=64, default=b"", blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    objects = WebAuthnChallengeQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.purpose} challenge {self.pk}"
