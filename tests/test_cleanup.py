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
    MagicLink,
    MFAChallenge,
    RefreshToken,
    Session,
    WebAuthnChallenge,
)
from secureauth.services.cleanup import cleanup

from .conftest import login, secureauth_settings

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
    pending_link = MagicLink.objects.create(
        user=user, address_digest="d" * 64, token_hash="e" * 64, expires_at=now + DAY
    )
    MagicLink.objects.create(address_digest="d" * 64, token_hash="f" * 64, expires_at=now - DAY)
    MagicLink.objects.create(
        user=user, address_digest="d" * 64, token_hash="0" * 64, expires_at=now + DAY, used_at=now
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
        "pending_link": pending_link,
    }


EXPECTED = {
    "refresh_tokens": 3,  # stale token, and one token each of the two dead sessions
    "sessions": 2,
    "mfa_challenges": 2,
    "webauthn_challenges": 2,
    "audit_events": 1,
    "magic_links": 2,  # one expired, one used
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
    assert list(MagicLink.objects.all()) == [world["pending_link"]]
    # The recent event survives the deletion of its session and still names it.
    kept = AuditEvent.objects.get()
    assert kept.pk == world["kept_event"].pk
    assert kept.session_id == world["kept_event"].session_id is not None


def test_dry_run_counts_without_deleting(world):
    before = {
        model: model.objects.count()
        for model in (
            Session,
            RefreshToken,
            MFAChallenge,
            WebAuthnChallenge,
            AuditEvent,
            MagicLink,
        )
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
            if head.startswith("DELETE") or (head.startswith("WITH") and "DELETE" in head):
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


class StatementCounter:
    """Counts the statements of each kind (DELETE, UPDATE, ...) per table."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def __call__(self, execute, sql, params, many, context):
        verb = sql.lstrip().split(None, 1)[0].upper()
        for model in (AuditEvent, RefreshToken, Session):
            if model._meta.db_table in sql:
                key = (verb, model._meta.db_table)
                self.counts[key] = self.counts.get(key, 0) + 1
        return execute(sql, params, many, context)

    def of(self, verb: str, model) -> int:
        return self.counts.get((verb, model._meta.db_table), 0)


def make_dead_world(user, sessions: int = 12, tokens_each: int = 5) -> None:
    """Sessions of every kind, each with a chain of tokens (parent -> child)."""
    for index in range(sessions):
        kind = index % 4
        session = make_session(
            user,
            age=100 * DAY,
            expires_in=-31 * DAY if kind == 1 else 30 * DAY,
            revoked_ago=40 * DAY if kind == 2 else (DAY if kind == 3 else None),
        )
        parent = None
        for step in range(tokens_each):
            parent = make_token(
                session,
                expires_in=(step - tokens_each + 1) * 20 * DAY + DAY,
                rotated=step < tokens_each - 1,
                parent=parent,
            )
        make_event(user, age=10 * DAY, session=session)


@pytest.mark.parametrize("batch_size", [1, 3, 1000])
def test_dry_run_counts_exactly_what_the_cleanup_deletes(user, batch_size):
    make_dead_world(user)
    counted = cleanup(dry_run=True)
    tokens, sessions = RefreshToken.objects.count(), Session.objects.count()

    deleted = cleanup(batch_size=batch_size)

    assert dict(deleted.items()) == dict(counted.items())
    assert deleted.sessions == 6 and deleted.refresh_tokens > deleted.sessions
    assert RefreshToken.objects.count() == tokens - deleted.refresh_tokens
    assert Session.objects.count() == sessions - deleted.sessions
    assert cleanup(dry_run=True).total == 0


def test_a_purged_session_with_many_tokens_goes_in_batches(user):
    """More tokens than a page may take along (TOKENS_PER_SESSION a session): the
    session's tokens go a batch at a time, then the session."""
    session = make_session(user, age=60 * DAY, revoked_ago=31 * DAY)
    parent = None
    for _ in range(25):  # not expired themselves: they go with their session
        parent = make_token(session, expires_in=DAY, rotated=True, parent=parent)
    counter = StatementCounter()
    with connection.execute_wrapper(counter):
        report = cleanup(batch_size=5)
    assert (report.refresh_tokens, report.sessions) == (25, 1)
    deletes = counter.of("DELETE", RefreshToken)
    # 5 batches of 5, then the session (on PostgreSQL after the one-statement try,
    # a WITH, found the page too heavy and deleted nothing).
    assert deletes == 5, counter.counts
    assert counter.of("DELETE", Session) == 1
    assert not Session.objects.filter(pk=session.pk).exists()


def test_a_page_of_sessions_goes_with_its_tokens_in_one_statement_on_postgresql(user):
    make_dead_world(user, sessions=12, tokens_each=3)
    counter = StatementCounter()
    with connection.execute_wrapper(counter):
        report = cleanup(batch_size=20)
    assert report.sessions == 6
    if connection.vendor == "postgresql":
        assert counter.of("DELETE", Session) == 0, counter.counts  # no plain DELETE
        assert counter.of("WITH", Session) == 1, counter.counts
    assert cleanup(dry_run=True).total == 0


def test_the_cleanup_writes_no_row_it_keeps(user):
    """No UPDATE at all: children of purged tokens keep their parent id, audit rows
    keep the id of their purged session."""
    make_dead_world(user)
    events = {e.pk: e.session_id for e in AuditEvent.objects.all()}
    counter = StatementCounter()
    with connection.execute_wrapper(counter):
        report = cleanup(batch_size=2)
    assert report.refresh_tokens and report.sessions
    assert not [key for key in counter.counts if key[0] == "UPDATE"], counter.counts
    assert {e.pk: e.session_id for e in AuditEvent.objects.all()} == events
    orphans = RefreshToken.objects.exclude(parent_id=None).exclude(
        parent_id__in=RefreshToken.objects.values("pk")
    )
    assert orphans.exists()  # a kept child whose expired parent was purged


def test_a_token_whose_parent_was_purged_still_refreshes_and_detects_reuse(api, user):
    first = login(api, user.email)
    second = api.post("/auth/refresh/", {"refresh_token": first["refresh_token"]}, format="json")
    assert second.status_code == 200
    parent = RefreshToken.objects.get(rotated_at__isnull=False)
    RefreshToken.objects.filter(pk=parent.pk).update(expires_at=timezone.now() - 40 * DAY)
    assert cleanup().refresh_tokens == 1

    third = api.post(
        "/auth/refresh/", {"refresh_token": second.json()["refresh_token"]}, format="json"
    )
    assert third.status_code == 200, third.content
    with secureauth_settings(REFRESH_REUSE_GRACE_SECONDS=0):
        replay = api.post(
            "/auth/refresh/", {"refresh_token": second.json()["refresh_token"]}, format="json"
        )
    assert replay.status_code == 401 and replay.json()["code"] == "token_reused"
    # The purged parent is simply unknown.
    gone = api.post("/auth/refresh/", {"refresh_token": first["refresh_token"]}, format="json")
    assert gone.status_code == 401


def test_audit_keeps_showing_the_session_of_a_purged_session(api, user):
    old = login(api, user.email)
    Session.objects.filter(pk=old["session"]["id"]).update(
        revoked_at=timezone.now() - 40 * DAY, revoked_reason=RevokeReason.LOGOUT
    )
    current = login(api, user.email)
    assert cleanup().sessions == 1

    response = api.get("/auth/audit/", HTTP_AUTHORIZATION=f"Bearer {current['access_token']}")
    assert response.status_code == 200, response.content
    body = response.json()
    entries = body["results"] if isinstance(body, dict) else body
    assert old["session"]["id"] in {entry["session"] for entry in entries}
