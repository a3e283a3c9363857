"""``manage.py secureauth_rotate_mfa_keys``: re-seal every TOTP seed under the first
key of MFA_ENCRYPTION_KEYS (docs/mfa.md, "Rotating the keys")."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from secureauth.sealing import KeyringError
from secureauth.services.mfa_keys import DEFAULT_BATCH_SIZE, rotate_mfa_keys


class Command(BaseCommand):
    help = (
        "Re-seal every TOTP seed under the first key of SECUREAUTH['MFA_ENCRYPTION_KEYS'] "
        "(and seal seeds still in clear), in batches. Safe to run twice and while the "
        "service takes traffic. Exits with an error when some seed cannot be opened."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Open every seed and count what would change; write nothing.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Devices read per batch (default {DEFAULT_BATCH_SIZE}).",
        )

    def handle(self, *args, dry_run: bool = False, batch_size: int = DEFAULT_BATCH_SIZE, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be a positive integer.")
        try:
            report = rotate_mfa_keys(batch_size=batch_size, dry_run=dry_run)
        except KeyringError as exc:
            raise CommandError(f"SECUREAUTH['MFA_ENCRYPTION_KEYS'] {exc}.") from exc
        resealed, sealed = ("Would re-seal", "Would seal") if dry_run else ("Re-sealed", "Sealed")
        self.stdout.write(f"Current key id: {report.key_id}")
        self.stdout.write(f"{resealed} {report.resealed} seeds sealed under older keys")
        self.stdout.write(f"{sealed} {report.sealed_from_clear} seeds found in clear")
        self.stdout.write(f"Already under the current key: {report.current}")
        for pk, reason in report.failures:
            self.stderr.write(f"TOTP device {pk}: {reason}")
        if report.failures:
            raise CommandError(
                f"{len(report.failures)} TOTP devices could not be re-sealed (listed above); "
                "configure the keys that sealed them in MFA_ENCRYPTION_KEYS and run again, "
                "or have their users set up their authenticator app again."
            )
        changed = report.resealed + report.sealed_from_clear
        summary = (
            f"Dry run: {changed} seeds would change."
            if dry_run
            else (f"Done: {changed} seeds sealed under key {report.key_id}.")
        )
        self.stdout.write(self.style.SUCCESS(summary))
