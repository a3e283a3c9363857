"""The cleanup service: what goes, what stays, and that it works in bounded batches."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from secureauth.constants import RevokeReason
from secureauth.models import (
    AuditEvent,
    MFAChallenge,
    RefreshToken,
    Session,
    WebAuthnChallenge,
)
from secureauth.services.cleanup import cleanup

from .conftest import login

DAY = timedelta(days=1)
_digests = iter(range(10**9))


def next_digest() -> bytes:
    return next(_digests).to_bytes(32, "big")


def make_session(user, *, age=DAY, expires_in=30 * DAY, revoked_ago=None) -> Session:
    now = timezone.now()
    return Session.objects.create(
        user=user,
        device_name="test device",
        created_at=now - age,
        last_used_at=now - age,
        expires_at=now + expires_in,
        revoked_at=None if revoked_ago is None else now - revoked_ago,
        revoked_reason="" if revoked_ago is None else RevokeReason.LOGOUT,
    )


def make_token(session: Session, *, expires_in=14 * DAY, rotated=False, parent=None):
    now = timezone.now()
    return RefreshToken.objects.create(
        session=session,
        token_hash=next_digest(),
        parent=parent,
        issued_at=now - DAY,
        expires_at=now + expires_in,
        rotated_at=now - DAY if rotated else None,
    )


def make_event(user, *, age: timedelta, session=None) -> AuditEvent:
    return AuditEvent.objects.create(
        event="login_succeeded", user=user, session=session, created_at=timezone.now() - age
    )


@pytest.fixture
def world(user):
    """A mix of live rows (kept) and dead rows (deleted) for one user."""
    now = timezone.now()
    live = make_session(user)
    old_token = make_token(live, expires_in=-DAY, rotated=True)  # expired inside retention
    current = make_token(live, parent=old_token)
    stale_token = make_token(live, expires_in=-40 * DAY, rotated=True)  # past retention
    recently_revoked = make_session(user, revoked_ago=DAY)
    make_token(recently_revoked)
    revoked_long_ago = make_session(user, age=60 * DAY, revoked_ago=31 * DAY)
    make_token(revoked_long_ago, expires_in=DAY)  # goes with its session
    expired_long_ago = make_session(user, age=90 * DAY, expires_in=-31 * DAY)
    make_token(expired_long_ago, expires_in=-31 * DAY)
    kept_event = make_event(user, age=364 * DAY, session=revoked_long_ago)
    make_event(user, age=366 * DAY)
    pending_mfa = MFAChallenge.objects.create(
        user=user, token_hash="a" * 64, expires_at=now + timedelta(minutes=5)
    )
    MFAChallenge.objects.create(user=user, token_hash="b" * 64, expires_at=now - DAY)
    MFAChallenge.objects.create(user=user, token_hash="c" * 64, expires_at=now + DAY, used_at=now)
    pending_webauthn = WebAuthnChallenge.objects.create(
        purpose="login", challenge=b"x" * 32, expires_at=now + timedelta(minutes=5)
    )
    WebAuthnChallenge.objects.create(purpose="login", challenge=b"y" * 32, expires_at=now - DAY)
    WebAuthnChallenge.objects.create(
        purpose="register", user=user, challenge=b"z" * 32, expires_at=now + DAY, used_at=now
    )
    return {
        "live": live,
        "old_token": old_token,
        "current": current,
        "stale_token": stale_token,
        "recently_revoked": recently_revoked,
        "kept_event": kept_event,
        "pending_mfa": pending_mfa,
        "pending_webauthn": pending_webauthn,
    }


EXPECTED = {
    "refresh_tokens": 3,  # stale token, and one token each of the two dead sessions
    "sessions": 2,
    "mfa_challenges": 2,
    "webauthn_challenges": 2,
    "audit_events": 1,
}


def test_cleanup_deletes_dead_rows_and_keeps_live_ones(world):
    report = cleanup()

    assert dict(report.items()) == EXPECTED
    assert report.total == sum(EXPECTED.values())
    assert set(Session.objects.all()) == {world["live"], world["recently_revoked"]}
    kept_tokens = set(RefreshToken.objects.values_list("pk", flat=True))
    assert world["current"].pk in kept_tokens and world["old_token"].pk in kept_tokens
    assert world["stale_token"].pk not in kept_tokens
    assert RefreshToken.objects.filter(session=world["recently_revoked"]).count() == 1
    assert list(MFAChallenge.objects.all()) == [world["pending_mfa"]]
    assert list(WebAuthnChallenge.objects.all()) == [world["pending_webauthn"]]
    # The recent event survives the deletion of its session and still names it.
    kept = AuditEvent.objects.get()
    assert kept.pk == world["kept_event"].pk
    assert kept.session_id == world["kept_event"].session_id is not None


def test_dry_run_counts_without_deleting(world):
    before = {
        model: model.objects.count()
        for model in (Session, RefreshToken, MFAChallenge, WebAuthnChallenge, AuditEvent)
    }
    report = cleanup(dry_run=True)
    assert dict(report.items()) == EXPECTED
    assert before == {model: model.objects.count() for model in before}


def test_second_run_finds_nothing(world):
    cleanup()
    assert cleanup().total == 0


def test_small_batches_give_the_same_result(world):
    assert dict(cleanup(batch_size=1).items()) == EXPECTED


@override_settings(SECUREAUTH={"AUDIT_RETENTION_DAYS": None, "CLEANUP_RETENTION": 0})
def test_retention_settings(user):
    make_event(user, age=3000 * DAY)
    session = make_session(user, revoked_ago=timedelta(seconds=1))
    make_token(session)
    report = cleanup()
    assert report.audit_events == 0 and AuditEvent.objects.count() == 1
    assert report.sessions == 1 and report.refresh_tokens == 1


def test_signed_in_session_survives_and_still_refreshes(api, user):
    tokens = login(api, user.email)
    make_event(user, age=400 * DAY)
    cleanup()
    response = api.post("/auth/refresh/", {"refresh_token": tokens["refresh_token"]}, format="json")
    assert response.status_code == 200, response.content
    assert AuditEvent.objects.filter(event="login_succeeded").exists()


class QueryCounter:
    """Counts statements on one table without keeping their SQL around."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.deletes: list[int] = []  # number of parameters of each DELETE
        self.unbounded_selects = 0

    def __call__(self, execute, sql, params, many, context):
        if self.table in sql:
            head = sql.lstrip().upper()
            if head.startswith("DELETE"):
                self.deletes.append(len(params or ()))
            elif head.startswith("SELECT") and "LIMIT" not in head and " IN (" not in head:
                self.unbounded_selects += 1
        return execute(sql, params, many, context)


def test_many_expired_tokens_are_deleted_in_batches(user):
    total, batch = 100_000, 1_000
    session = make_session(user)
    current = make_token(session)
    expired = timezone.now() - 40 * DAY
    for start in range(0, total, 10_000):
        RefreshToken.objects.bulk_create(
            RefreshToken(
                session=session,
                token_hash=(10**12 + i).to_bytes(32, "big"),
                issued_at=expired - DAY,
                expires_at=expired,
            )
            for i in range(start, start + 10_000)
        )

    counter = QueryCounter(RefreshToken._meta.db_table)
    started = time.monotonic()
    with connection.execute_wrapper(counter):
        report = cleanup(batch_size=batch)
    elapsed = time.monotonic() - started

    assert report.refresh_tokens == total
    assert list(RefreshToken.objects.values_list("pk", flat=True)) == [current.pk]
    assert Session.objects.filter(pk=session.pk).exists()
    # Deleted by many statements, none of them wider than a batch, and no
    # statement read the whole table.
    assert len(counter.deletes) >= total // batch
    assert max(counter.deletes) <= batch + 1  # the ids of one batch, and the cutoff
    assert counter.unbounded_selects == 0
    assert elapsed < 60
