"""Purging what SecureAuth no longer needs, in small batches, under live traffic.

Rows go in primary-key order, ``CLEANUP_BATCH_SIZE`` at a time, each batch one
short transaction of one or two ``DELETE`` statements (on PostgreSQL one statement
whose keys never leave the server, also for a page of sessions with its tokens):
the job never loads a table (nor a row) into Python, never holds locks for long,
and never writes a row it keeps (no ``parent = NULL`` on children, no rewrite of
audit rows: both links are plain references that may name a purged row). Every
purged row is dead by a rule that only time can satisfy (expired, revoked long
ago, spent), and each ``DELETE`` checks the rule again, so concurrent requests and
concurrent cleanups are harmless."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from django.db import models, transaction
from django.utils import timezone

from ..conf import app_settings
from ..models import (
    AuditEvent,
    MagicLink,
    MFAChallenge,
    RefreshToken,
    Session,
    WebAuthnChallenge,
)
from ..models.batches import (
    can_delete_pages_in_one_statement,
    delete_next_page,
    delete_next_page_with_children,
    delete_rows,
    next_keys,
    some_keys,
)


@dataclass
class CleanupReport:
    """How many rows of each kind were (or, in a dry run, would be) deleted."""

    refresh_tokens: int = 0
    sessions: int = 0
    mfa_challenges: int = 0
    webauthn_challenges: int = 0
    magic_links: int = 0
    audit_events: int = 0

    def items(self) -> list[tuple[str, int]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self)]

    @property
    def total(self) -> int:
        return sum(count for _, count in self.items())


#: On PostgreSQL a page of sessions is deleted with its tokens in one statement when
#: they number at most this many a session on average (a live session holds its
#: current token and a rotated parent or two until they expire).
TOKENS_PER_SESSION = 4

#: Called after every batch with the report so far (the counts grow as rows go).
ProgressCallback = Callable[[CleanupReport], None]


@dataclass(frozen=True)
class Cutoffs:
    """The instants before which each kind of row is dead."""

    now: datetime
    tokens_and_sessions: datetime
    audit_events: datetime | None  # None: audit events are kept forever


def cutoffs(now: datetime | None = None) -> Cutoffs:
    """Tokens and sessions are kept ``CLEANUP_RETENTION`` past their end; audit
    events ``AUDIT_RETENTION_DAYS`` days (``None`` keeps them forever)."""
    now = now or timezone.now()
    days = app_settings.AUDIT_RETENTION_DAYS
    return Cutoffs(
        now=now,
        tokens_and_sessions=now - app_settings.CLEANUP_RETENTION,
        audit_events=None if days is None else now - timedelta(days=days),
    )


def purgeable_refresh_tokens(cut: Cutoffs) -> models.QuerySet[RefreshToken]:
    """Refresh tokens expired longer than the retention ago."""
    return RefreshToken.objects.purgeable(cut.tokens_and_sessions)


def purgeable_sessions(cut: Cutoffs) -> models.QuerySet[Session]:
    """Sessions revoked or expired longer than the retention ago."""
    return Session.objects.purgeable(cut.tokens_and_sessions)


def purgeable_mfa_challenges(cut: Cutoffs) -> models.QuerySet[MFAChallenge]:
    """MFA challenges already spent or past their expiry."""
    return MFAChallenge.objects.purgeable(cut.now)


def purgeable_webauthn_challenges(cut: Cutoffs) -> models.QuerySet[WebAuthnChallenge]:
    """WebAuthn challenges already spent or past their expiry."""
    return WebAuthnChallenge.objects.expired(cut.now)


def purgeable_audit_events(cut: Cutoffs) -> models.QuerySet[AuditEvent]:
    """Audit events older than ``AUDIT_RETENTION_DAYS``."""
    if cut.audit_events is None:
        return AuditEvent.objects.none()
    return AuditEvent.objects.older_than(cut.audit_events)


def purgeable_magic_links(cut: Cutoffs) -> models.QuerySet[MagicLink]:
    """Email sign-in links used, voided or expired."""
    return MagicLink.objects.purgeable(cut.now)


def count_purgeable(cut: Cutoffs) -> CleanupReport:
    """What a cleanup at ``cut`` would delete, by plain ``COUNT(*)`` queries (each an
    index or join scan; no per-row subquery): the tokens that are purgeable
    themselves plus the other tokens of the purgeable sessions."""
    sessions = purgeable_sessions(cut)
    tokens = purgeable_refresh_tokens(cut).count()
    tokens += (
        RefreshToken.objects.of_sessions(sessions.values("pk"))
        .still_kept(cut.tokens_and_sessions)
        .count()
    )
    return CleanupReport(
        refresh_tokens=tokens,
        sessions=sessions.count(),
        mfa_challenges=purgeable_mfa_challenges(cut).count(),
        webauthn_challenges=purgeable_webauthn_challenges(cut).count(),
        audit_events=purgeable_audit_events(cut).count(),
        magic_links=purgeable_magic_links(cut).count(),
    )


class _Purge:
    """One run's batches and running totals."""

    def __init__(self, size: int, progress: ProgressCallback | None) -> None:
        self.size = size
        self.progress = progress
        self.report = CleanupReport()

    def _add(self, kind: str, count: int) -> None:
        setattr(self.report, kind, getattr(self.report, kind) + count)

    def _batch_done(self) -> None:
        if self.progress is not None:
            self.progress(self.report)

    def rows(self, kind: str, queryset: models.QuerySet) -> None:
        """Delete the rows of ``queryset`` (a model nothing else depends on, or only
        through Django's collector) page by page."""
        last = None
        if can_delete_pages_in_one_statement(queryset):
            while True:  # PostgreSQL: one statement per batch, the keys stay on the server
                found, deleted, last = delete_next_page(queryset, last, self.size)
                self._add(kind, deleted)
                self._batch_done()
                if found < self.size:
                    return
        while keys := next_keys(queryset, last, self.size):
            last = keys[-1]
            with transaction.atomic():
                # Re-filter with the rule: a row is deleted only if it is still dead.
                self._add(kind, delete_rows(queryset.filter(pk__in=keys), handled=set()))
            self._batch_done()
            if len(keys) < self.size:
                return

    def sessions(self, queryset: models.QuerySet[Session]) -> None:
        """Delete the sessions of ``queryset`` page by page with their refresh tokens.
        On PostgreSQL a page and its tokens go in one statement, unless the page owns
        more than ``TOKENS_PER_SESSION`` tokens a session on average (sessions revoked
        early after many rotations): such a page, and every page elsewhere, goes the
        bounded way (``_session_page``). Audit rows are not touched: they keep the
        session's id."""
        tokens = RefreshToken.objects.all()
        if not (
            can_delete_pages_in_one_statement(queryset, handled={RefreshToken})
            and can_delete_pages_in_one_statement(tokens)
        ):
            last = None
            while keys := next_keys(queryset, last, self.size):
                last = keys[-1]
                self._session_page(queryset, keys)
                if len(keys) < self.size:
                    return
            return
        last = None
        while True:
            found, sessions, purged_tokens, page_last = delete_next_page_with_children(
                queryset, tokens, "session", last, self.size, TOKENS_PER_SESSION * self.size
            )
            if sessions < 0:  # too many tokens for one statement
                self._session_page(queryset, next_keys(queryset, last, self.size))
            else:
                self._add("refresh_tokens", purged_tokens)
                self._add("sessions", sessions)
                self._batch_done()
            last = page_last
            if found < self.size:
                return

    def _session_page(self, queryset: models.QuerySet[Session], keys: list) -> None:
        """One page of sessions: their refresh tokens first, ``size`` at a time, the
        last tokens and the sessions in one transaction."""
        while True:
            # Plain key lists, not nested subqueries: an index scan on the session
            # foreign key, then on the primary key, whatever the planner thinks.
            tokens = some_keys(RefreshToken.objects.of_sessions(keys), self.size)
            with transaction.atomic():
                if tokens:
                    batch = RefreshToken.objects.filter(pk__in=tokens)
                    self._add("refresh_tokens", delete_rows(batch, handled=set()))
                if len(tokens) < self.size:
                    page = queryset.filter(pk__in=keys)  # the rule, checked again
                    self._add("sessions", delete_rows(page, handled={RefreshToken}))
                    break
            self._batch_done()
        self._batch_done()


def cleanup(
    *,
    dry_run: bool = False,
    batch_size: int | None = None,
    now: datetime | None = None,
    progress: ProgressCallback | None = None,
) -> CleanupReport:
    """Delete refresh tokens expired longer than ``CLEANUP_RETENTION`` ago,
    sessions revoked or expired longer than that ago (with their tokens), spent
    or expired MFA and WebAuthn challenges, and audit events older than
    ``AUDIT_RETENTION_DAYS``. ``dry_run`` only counts what would go.
    ``progress(report)`` is called after every batch."""
    cut = cutoffs(now)
    if dry_run:
        return count_purgeable(cut)
    purge = _Purge(max(1, int(batch_size or app_settings.CLEANUP_BATCH_SIZE)), progress)
    purge.rows("refresh_tokens", purgeable_refresh_tokens(cut))
    purge.sessions(purgeable_sessions(cut))
    purge.rows("mfa_challenges", purgeable_mfa_challenges(cut))
    purge.rows("webauthn_challenges", purgeable_webauthn_challenges(cut))
    purge.rows("audit_events", purgeable_audit_events(cut))
    purge.rows("magic_links", purgeable_magic_links(cut))
    return purge.report
