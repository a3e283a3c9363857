"""``manage.py secureauth_cleanup``: purge dead tokens, sessions, challenges, old audit events."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from secureauth.services.cleanup import CleanupReport, cleanup

LABELS = {
    "refresh_tokens": "refresh tokens",
    "sessions": "sessions",
    "mfa_challenges": "MFA challenges",
    "webauthn_challenges": "WebAuthn challenges",
    "audit_events": "audit events",
    "magic_links": "email sign-in links",
}


class ProgressLine:
    """One terminal line, rewritten at most every ``interval`` seconds: rows deleted
    so far out of the counted total, the rate, the time left."""

    def __init__(self, out: OutputWrapper, expected: int, *, interval: float = 0.5) -> None:
        self.out = out
        self.expected = expected
        self.interval = interval
        self.started = time.monotonic()
        self.shown_at = 0.0
        self.width = 0

    def __call__(self, report: CleanupReport, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.shown_at < self.interval:
            return
        self.shown_at = now
        done = report.total
        elapsed = max(now - self.started, 1e-6)
        rate = done / elapsed
        left = max(self.expected - done, 0)
        eta = str(timedelta(seconds=round(left / rate))) if rate > 0 else "?"
        kind = next((LABELS[name] for name, count in reversed(report.items()) if count), "")
        share = f" ({100 * done // self.expected}%)" if self.expected else ""
        text = (
            f"Deleted {done:,} of {self.expected:,} rows{share}, {rate:,.0f} rows/s, "
            f"ETA {eta}" + (f" [{kind}]" if kind else "")
        )
        self.out.write("\r" + text.ljust(self.width), ending="")
        self.out.flush()
        self.width = len(text)

    def finish(self, report: CleanupReport) -> None:
        self(report, force=True)
        self.out.write("")


class Command(BaseCommand):
    help = (
        "Delete refresh tokens and sessions dead for longer than CLEANUP_RETENTION, spent or "
        "expired MFA/WebAuthn challenges and email sign-in links, and audit events older than "
        "AUDIT_RETENTION_DAYS. "
        "Deletes in primary-key batches; safe to run while the service takes traffic. "
        "On a terminal it shows its progress; with --quiet (or -v 0) it prints nothing."
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
        parser.add_argument(
            "--quiet",
            action="store_true",
            help="Print nothing (errors still go to stderr and the exit status).",
        )

    def handle(
        self,
        *args: Any,
        dry_run: bool = False,
        batch_size: int | None = None,
        quiet: bool = False,
        **options: Any,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be a positive integer.")
        quiet = quiet or options.get("verbosity", 1) == 0
        if dry_run:
            report = cleanup(dry_run=True)
        elif not quiet and self.stdout.isatty():
            # The total is counted first (plain counts, a fraction of the run) for the ETA.
            line = ProgressLine(self.stdout, cleanup(dry_run=True).total)
            report = cleanup(batch_size=batch_size, progress=line)
            line.finish(report)
        else:
            report = cleanup(batch_size=batch_size)
        if not quiet:
            self._summary(report, dry_run)

    def _summary(self, report: CleanupReport, dry_run: bool) -> None:
        verb = "Would delete" if dry_run else "Deleted"
        for name, count in report.items():
            self.stdout.write(f"{verb} {count} {LABELS[name]}")
        summary = f"{'Dry run: would delete' if dry_run else 'Cleanup done: deleted'} "
        self.stdout.write(self.style.SUCCESS(f"{summary}{report.total} rows in total."))
