"""WebAuthn passkeys and the server-side challenges of their ceremonies."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


class PasskeyQuerySet(models.QuerySet):
    def of(self, user) -> PasskeyQuerySet:
        return self.filter(user=user).order_by("-created_at")


class Passkey(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="secureauth_passkeys"
    )
    name = models.CharField(max_length=128, blank=True)
    credential_id = models.BinaryField(max_length=1023)
    credential_id_hash = models.CharField(max_length=64, unique=True)
    public_key = models.BinaryField()
    sign_count = models.BigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    aaguid = models.CharField(max_length=64, blank=True)
    backed_up = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = PasskeyQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name or f"passkey {self.pk}"


class WebAuthnChallengeQuerySet(models.QuerySet):
    def spend(self, challenge_id, purpose: str, now: datetime) -> WebAuthnChallenge | None:
        """Consume a pending challenge once; None if unknown, used or expired."""
        try:
            found = self.get(pk=challenge_id, purpose=purpose)
        except (WebAuthnChallenge.DoesNotExist, ValidationError, ValueError):
            return None
        used = self.filter(pk=found.pk, used_at__isnull=True, expires_at__gt=now).update(
            used_at=now
        )
        return found if used else None


class WebAuthnChallenge(models.Model):
    REGISTER = "register"
    LOGIN = "login"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.CharField(max_length=16)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    challenge = models.BinaryField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    objects = WebAuthnChallengeQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.purpose} challenge {self.pk}"
