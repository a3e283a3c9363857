"""Re-sealing TOTP seeds under the current key (``secureauth_rotate_mfa_keys``).

Rule: after a run, every seed that can be opened is sealed under the first key of
MFA_ENCRYPTION_KEYS, and every device whose seed was still in clear (one created by
django-otp's own admin or API) is sealed too. A seed that cannot be opened (its key
is no longer configured, or it does not authenticate for its row) is left as it is
and reported. A run changes nothing that is already current, so running it twice,
or while users sign in, is safe: each device is re-sealed in its own short
transaction with its row locked, as a verification locks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from ..models import SealedTOTPDevice, TOTPSecret
from ..sealing import Keyring, SeedUnavailable, keyring, seed_in_clear

DEFAULT_BATCH_SIZE = 500


@dataclass
class RotationReport:
    key_id: str  # the key everything is sealed under afterwards
    resealed: int = 0  # seeds moved from an older key to the current one
    sealed_from_clear: int = 0  # seeds found in the ``key`` column, now sealed
    current: int = 0  # seeds already under the current key, left alone
    failures: list[tuple[int, str]] = field(default_factory=list)  # (device pk, why)
    dry_run: bool = False


def rotate_mfa_keys(
    *, batch_size: int = DEFAULT_BATCH_SIZE, dry_run: bool = False
) -> RotationReport:
    """Seal every TOTP seed under the current key (see the module's rule). With
    ``dry_run``, open every seed and count what a run would change, writing nothing.
    Raises ``secureauth.sealing.KeyringError`` when MFA_ENCRYPTION_KEYS is unusable."""
    ring = keyring()
    report = RotationReport(key_id=ring.current.key_id, dry_run=dry_run)
    _seal_devices_in_clear(ring, report, batch_size)
    _reseal_older_seeds(ring, report, batch_size)
    for pk in SealedTOTPDevice.objects.missing_their_seed().values_list("pk", flat=True):
        report.failures.append((pk, "its sealed seed is missing"))
    report.current = TOTPSecret.objects.filter(key_id=ring.current.key_id).count()
    if not dry_run:
        report.current -= report.resealed + report.sealed_from_clear
    return report


def _seal_devices_in_clear(ring: Keyring, report: RotationReport, batch_size: int) -> None:
    last_pk = 0
    while pks := list(
        SealedTOTPDevice.objects.in_clear().after(last_pk).values_list("pk", flat=True)[:batch_size]
    ):
        last_pk = pks[-1]
        for pk in pks:
            with transaction.atomic():
                device = (
                    SealedTOTPDevice.objects.in_clear().select_for_update().filter(pk=pk).first()
                )
                if device is None:  # sealed (or deleted) meanwhile
                    continue
                try:
                    seed = seed_in_clear(device.key)
                except ValueError as exc:
                    report.failures.append((pk, str(exc)))
                    continue
                if not report.dry_run:
                    device.seal(seed, ring)
                report.sealed_from_clear += 1


def _reseal_older_seeds(ring: Keyring, report: RotationReport, batch_size: int) -> None:
    older = TOTPSecret.objects.not_under(ring.current.key_id)
    last_pk = 0
    while pks := list(older.after(last_pk).values_list("pk", flat=True)[:batch_size]):
        last_pk = pks[-1]
        for pk in pks:
            with transaction.atomic():
                device = SealedTOTPDevice.objects.select_for_update().filter(pk=pk).first()
                if device is None:
                    continue
                try:
                    seed = device.bin_key
                except SeedUnavailable as exc:
                    report.failures.append((pk, f"its seed {exc.reason} (key id {exc.key_id})"))
                    continue
                if device.secureauth_secret.key_id == ring.current.key_id:
                    continue  # re-sealed meanwhile (another run, a new setup)
                if not report.dry_run:
                    device.seal(seed, ring)
                report.resealed += 1
