"""TOTP seeds sealed at rest: django-otp's ``TOTPDevice`` keeps its row, but its
``key`` column holds only the marker ``SEALED``; the seed lives encrypted in
``TOTPSecret`` (``secureauth.sealing``). ``SealedTOTPDevice``, a proxy of
``TOTPDevice``, overrides ``bin_key`` (the one place django-otp reads the key, in
``verify_token``) to open it, so verification, drift, replay protection and the
throttle stay django-otp's own.
"""

from __future__ import annotations

import secrets
from typing import Any, Self

from django.db import models, transaction
from django.utils import timezone
from django_otp.models import DeviceManager
from django_otp.plugins.otp_totp.models import TOTPDevice

from ..sealing import Keyring, KeyringError, SealedSeed, SeedUnavailable, keyring

#: The ``key`` column of a sealed device. Not hex, so django-otp's own ``bin_key``
#: (a plain ``TOTPDevice``) raises instead of computing codes from some other key.
SEALED = "sealed"
SEED_BYTES = 20  # 160 bits, RFC 4226's recommendation and django-otp's default


class TOTPSecretQuerySet(models.QuerySet["TOTPSecret"]):
    def not_under(self, key_id: str) -> Self:
        """The seeds sealed under any key but ``key_id`` (what a rotation re-seals), of
        devices marked sealed (a device back in clear is sealed afresh instead)."""
        return self.exclude(key_id=key_id).filter(device__key=SEALED)

    def after(self, pk: Any) -> Self:
        return self.filter(pk__gt=pk).order_by("pk")


class TOTPSecret(models.Model):
    """The sealed seed of one TOTP device: its key id, and nonce || ciphertext || tag."""

    device = models.OneToOneField(
        TOTPDevice,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="secureauth_secret",
    )
    key_id = models.CharField(max_length=64)
    ciphertext = models.BinaryField()
    sealed_at = models.DateTimeField(default=timezone.now)

    objects = TOTPSecretQuerySet.as_manager()

    class Meta:
        verbose_name = "sealed TOTP seed"
        # Not on the field: an indexed CharField gets a second, ``varchar_pattern_ops``
        # index on PostgreSQL that no exact lookup uses.
        indexes = [models.Index(fields=["key_id"], name="secureauth_totpsecret_key")]

    def __str__(self) -> str:
        return f"TOTP seed of device {self.pk} (key {self.key_id})"

    @property
    def sealed(self) -> SealedSeed:
        return SealedSeed(self.key_id, bytes(self.ciphertext))


class SealedTOTPDeviceQuerySet(models.QuerySet["SealedTOTPDevice"]):
    def in_clear(self) -> Self:
        """Devices whose seed is still in the ``key`` column (created by django-otp's
        own admin or API rather than by SecureAuth)."""
        return self.exclude(key=SEALED)

    def missing_their_seed(self) -> Self:
        """Devices marked sealed that have no ``TOTPSecret`` (it was deleted)."""
        return self.filter(key=SEALED, secureauth_secret__isnull=True)

    def after(self, pk: Any) -> Self:
        return self.filter(pk__gt=pk).order_by("pk")


class SealedTOTPDeviceManager(DeviceManager.from_queryset(SealedTOTPDeviceQuerySet)):  # type: ignore[misc]
    def create_sealed(self, *, user: Any, **fields: Any) -> SealedTOTPDevice:
        """A new device with a random seed, sealed under the current key (one
        transaction: the row first, as its primary key is part of the binding)."""
        with transaction.atomic():
            device = self.create(user=user, key=SEALED, **fields)
            device.seal(secrets.token_bytes(SEED_BYTES))
        return device


class SealedTOTPDevice(TOTPDevice):
    """A django-otp ``TOTPDevice`` whose seed is read from its ``TOTPSecret``."""

    # django-otp ships no type hints: what this class reads of TOTPDevice.
    key: str
    user_id: Any
    secureauth_secret: TOTPSecret

    objects = SealedTOTPDeviceManager()

    class Meta:
        proxy = True
        verbose_name = "TOTP device"

    @classmethod
    def of(cls, device: TOTPDevice) -> SealedTOTPDevice:
        """The same row as a SealedTOTPDevice (for a device loaded by django-otp)."""
        fields = cls._meta.concrete_fields
        values = [getattr(device, field.attname) for field in fields]
        return cls.from_db(device._state.db, [field.attname for field in fields], values)

    @property
    def bin_key(self) -> bytes:
        """The seed, opened with the keyring; SeedUnavailable when it cannot be."""
        if self.key != SEALED:
            raise SeedUnavailable("is still in clear: run secureauth_rotate_mfa_keys")
        try:
            secret = self.secureauth_secret
        except TOTPSecret.DoesNotExist:
            raise SeedUnavailable("is missing") from None
        try:
            ring = keyring()
        except KeyringError as exc:
            raise SeedUnavailable(f"cannot be opened: MFA_ENCRYPTION_KEYS {exc}") from exc
        return ring.open(secret.sealed, device_pk=self.pk, user_id=self.user_id)

    def seal(self, seed: bytes, ring: Keyring | None = None) -> TOTPSecret:
        """Store ``seed`` sealed under the current key (replacing any earlier seal) and
        leave only the marker in the ``key`` column. Call inside a transaction."""
        sealed = (ring or keyring()).seal(seed, device_pk=self.pk, user_id=self.user_id)
        secret, _ = TOTPSecret.objects.update_or_create(
            device_id=self.pk,
            defaults={
                "key_id": sealed.key_id,
                "ciphertext": sealed.ciphertext,
                "sealed_at": timezone.now(),
            },
        )
        if self.key != SEALED:
            self.key = SEALED
            self.save(update_fields=["key"])
        self.secureauth_secret = secret
        return secret


def with_sealed_seed(device: Any) -> Any:
    """``device`` as SecureAuth reads it: a plain ``TOTPDevice`` (as django-otp's
    ``devices_for_user`` loads it) becomes a ``SealedTOTPDevice``; other devices are
    returned as they are."""
    if isinstance(device, TOTPDevice) and not isinstance(device, SealedTOTPDevice):
        return SealedTOTPDevice.of(device)
    return device
