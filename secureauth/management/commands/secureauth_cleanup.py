"""``manage.py secureauth_cleanup``: purge dead tokens, sessions, challenges, old audit events."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from secureauth.services.cleanup import cleanup

LABELS = {
    "refresh_tokens": "refresh tokens",
    "sessions": "sessions",
    "mfa_challenges": "MFA challenges",
    "webauthn_challenges": "WebAuthn challenges",
    "audit_events": "audit events",
    "magic_links": "email sign-in links",
}


class Command(BaseCommand):
    help = (
        "Delete refresh tokens and sessions dead for longer than CLEANUP_RETENTION, spent or "
        "expired MFA/WebAuthn challenges and email sign-in links, and audit events older than "
        "AUDIT_RETENTION_DAYS. "
        "Deletes in primary-key batches; safe to run while the service takes traffic."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count what would be deleted."
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help="Rows per delete batch (default: the CLEANUP_BATCH_SIZE setting).",
        )

    def handle(self, *args, dry_run: bool = False, batch_size: int | None = None, **options):
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be a positive integer.")
        report = cleanup(dry_run=dry_run, batch_size=batch_size)
        verb = "Would delete" if dry_run else "Deleted"
        for name, count in report.items():
            self.stdout.write(f"{verb} {count} {LABELS[name]}")
        summary = f"{'Dry run: would delete' if dry_run else 'Cleanup done: deleted'} "
        self.stdout.write(self.style.SUCCESS(f"{summary}{report.total} rows in total."))
