"""``secureauth_cleanup`` output: progress on a terminal, quiet in cron, the summary."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from secureauth.models import RefreshToken, Session

from .test_cleanup import DAY, make_session, make_token


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def dead_rows(user):
    """Four sessions expired long ago with three tokens each (12 + 4 rows)."""
    for _ in range(4):
        session = make_session(user, age=100 * DAY, expires_in=-40 * DAY)
        for _ in range(3):
            make_token(session, expires_in=-50 * DAY, rotated=True)


def run(*args: str, stdout: io.StringIO | None = None) -> str:
    out = stdout if stdout is not None else io.StringIO()
    call_command("secureauth_cleanup", *args, stdout=out)
    return out.getvalue()


SUMMARY = "Cleanup done: deleted 16 rows in total."


def test_on_a_terminal_it_shows_rows_so_far_rate_and_eta(dead_rows):
    output = run("--batch-size", "2", stdout=FakeTerminal())
    progress, _, summary = output.partition("\n")
    assert progress.startswith("\r")
    last = progress.rsplit("\r", 1)[-1]
    assert "Deleted 16 of 16 rows (100%)" in last
    assert "rows/s" in last and "ETA 0:00:00" in last
    assert "Deleted 12 refresh tokens" in summary and SUMMARY in summary
    assert not RefreshToken.objects.exists() and not Session.objects.exists()


def test_without_a_terminal_only_the_summary(dead_rows):
    output = run("--batch-size", "2")
    assert "\r" not in output and "rows/s" not in output
    assert output.splitlines() == [
        "Deleted 12 refresh tokens",
        "Deleted 4 sessions",
        "Deleted 0 MFA challenges",
        "Deleted 0 WebAuthn challenges",
        "Deleted 0 email sign-in links",
        "Deleted 0 audit events",
        SUMMARY,
    ]


@pytest.mark.parametrize("flags", [("--quiet",), ("--verbosity", "0")])
def test_quiet_prints_nothing_even_on_a_terminal(dead_rows, flags):
    assert run(*flags, stdout=FakeTerminal()) == ""
    assert not Session.objects.exists()


def test_dry_run_prints_the_counts_and_deletes_nothing(dead_rows):
    output = run("--dry-run", stdout=FakeTerminal())
    assert "\r" not in output
    assert "Would delete 12 refresh tokens" in output
    assert "Dry run: would delete 16 rows in total." in output
    assert Session.objects.count() == 4


def test_a_live_session_is_kept_and_the_progress_counts_only_dead_rows(user):
    live = make_session(user)
    make_token(live, expires_in=timedelta(days=5))
    session = make_session(user, age=100 * DAY, revoked_ago=40 * DAY)
    make_token(session, expires_in=DAY)
    output = run(stdout=FakeTerminal())
    assert "Deleted 2 of 2 rows (100%)" in output
    assert list(Session.objects.all()) == [live]


def test_batch_size_must_be_positive():
    with pytest.raises(CommandError, match="positive"):
        run("--batch-size", "0")
