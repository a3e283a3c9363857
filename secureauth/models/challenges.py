"""Short-lived, single-use challenges: the MFA step of a login, WebAuthn ceremonies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import F
from django.utils import timezone

if TYPE_CHECKING:
    from ..types import UserType


class MFAChallengeQuerySet(models.QuerySet["MFAChallenge"]):
    def pending(self, token_hash: str, now: datetime) -> MFAChallenge | None:
        return (
            self.select_related("user")
            .filter(token_hash=token_hash, used_at__isnull=True, expires_at__gt=now)
            .first()
        )

    def spend(self, challenge: MFAChallenge, now: datetime) -> bool:
        """Mark it used; True only for the single caller that wins."""
        return bool(self.filter(pk=challenge.pk, used_at__isnull=True).update(used_at=now))

    def purgeable(self, now: datetime) -> MFAChallengeQuerySet:
        """Spent, or past their expiry."""
        return self.filter(models.Q(used_at__isnull=False) | models.Q(expires_at__lt=now))

    def spend_pending_of(self, user: UserType, now: datetime) -> int:
        """A credential changed: every pending challenge of the user is used up."""
        return self.filter(user=user, used_at__isnull=True).update(used_at=now)

    def count_failure(self, challenge: MFAChallenge, limit: int, now: datetime) -> None:
        """One more wrong code; the challenge is spent at ``limit`` failures."""
        self.filter(pk=challenge.pk).update(attempts=F("attempts") + 1)
        self.filter(pk=challenge.pk, attempts__gte=limit, used_at__isnull=True).update(used_at=now)


class MFAChallenge(models.Model):
    """A password-verified login waiting for its second factor (the ``mfa_token``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64)
    amr = models.JSONField(default=list)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    device_name = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    credential_epoch = models.PositiveIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    objects = MFAChallengeQuerySet.as_manager()

    # Indexes and unique constraints in Meta, not on the field: an indexed CharField
    # gets a second, ``varchar_pattern_ops`` index on PostgreSQL that no exact lookup uses.
    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token_hash"], name="secureauth_mfachallenge_token")
        ]

    def __str__(self) -> str:
        return f"MFA challenge {self.pk}"
