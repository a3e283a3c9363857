"""Purging what SecureAuth no longer needs, in small batches, under live traffic.

Rows go in primary-key order, ``CLEANUP_BATCH_SIZE`` at a time, each batch in
its own short transaction: the job never loads a whole table into memory and
never holds locks for long. Every purged row is dead by a rule that only time
can satisfy (expired, revoked long ago, spent), so re-checking the rule at
delete time makes concurrent requests and concurrent cleanups harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from django.db import models, transaction
from django.db.models import Q
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


@dataclass
class CleanupReport:
    """How many rows of each kind were (or, in a dry run, would be) deleted."""

    refresh_tokens: int = 0
    sessions: int = 0
    mfa_challenges: int = 0
    webauthn_challenges: int = 0
    audit_events: int = 0
    magic_links: int = 0

    def items(self) -> list[tuple[str, int]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self)]

    @property
    def total(self) -> int:
        return sum(count for _, count in self.items())


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


def purgeable_magic_links(cut: Cutoffs) -> models.QuerySet[MagicLink]:
    """Email sign-in links used, voided or expired."""
    return MagicLink.objects.purgeable(cut.now)


def purgeable_audit_events(cut: Cutoffs) -> models.QuerySet[AuditEvent]:
    """Audit events older than ``AUDIT_RETENTION_DAYS``."""
    if cut.audit_events is None:
        return AuditEvent.objects.none()
    return AuditEvent.objects.older_than(cut.audit_events)


def delete_with_collector(batch: models.QuerySet, pks: list) -> dict[str, int]:
    """Django's delete: cascades and signals, loading the (one batch of) rows."""
    return batch.delete()[1]


def delete_refresh_tokens(batch: models.QuerySet, pks: list) -> dict[str, int]:
    """A token's one relation is its child's ``parent`` (SET_NULL): clear it with
    one UPDATE, then delete with one statement instead of loading every row."""
    RefreshToken.objects.detach_children_of(pks)
    return {RefreshToken._meta.label: batch._raw_delete(batch.db)}


def delete_in_batches(
    queryset: models.QuerySet,
    batch_size: int,
    *,
    delete: Callable[[models.QuerySet, list], dict[str, int]] = delete_with_collector,
    before_batch: Callable[[list], dict[str, int]] | None = None,
) -> dict[str, int]:
    """Delete the rows of ``queryset`` by primary-key chunks of ``batch_size``.

    Keyset pagination (``pk > last``) guarantees progress even when another
    process deletes the same rows. ``before_batch(pks)`` runs first for each
    batch (to remove a batch's many children in batches of their own), then
    ``delete(batch, pks)`` in the batch's own transaction. Returns the deleted
    counts per model label, cascades included."""
    counts: dict[str, int] = {}
    last = None
    while True:
        page = queryset.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        pks = list(page.values_list("pk", flat=True)[:batch_size])
        if not pks:
            return counts
        last = pks[-1]
        if before_batch is not None:
            _add(counts, before_batch(pks))
        with transaction.atomic():
            # Re-filter with the rule: a row is deleted only if it is still dead.
            _add(counts, delete(queryset.filter(pk__in=pks).order_by(), pks))
        if len(pks) < batch_size:
            return counts


def _add(total: dict[str, int], more: dict[str, int]) -> None:
    for label, count in more.items():
        total[label] = total.get(label, 0) + count


def _count(counts: dict[str, int], model: type[models.Model]) -> int:
    return counts.get(model._meta.label, 0)


def _would_delete(cut: Cutoffs) -> CleanupReport:
    sessions = purgeable_sessions(cut)
    tokens = RefreshToken.objects.filter(
        Q(pk__in=purgeable_refresh_tokens(cut).values("pk")) | Q(session__in=sessions.values("pk"))
    )
    return CleanupReport(
        refresh_tokens=tokens.count(),
        sessions=sessions.count(),
        mfa_challenges=purgeable_mfa_challenges(cut).count(),
        webauthn_challenges=purgeable_webauthn_challenges(cut).count(),
        audit_events=purgeable_audit_events(cut).count(),
        magic_links=purgeable_magic_links(cut).count(),
    )


def cleanup(
    *, dry_run: bool = False, batch_size: int | None = None, now: datetime | None = None
) -> CleanupReport:
    """Delete refresh tokens expired longer than ``CLEANUP_RETENTION`` ago,
    sessions revoked or expired longer than that ago (with their tokens), spent
    or expired MFA and WebAuthn challenges, and audit events older than
    ``AUDIT_RETENTION_DAYS``. ``dry_run`` only counts what would go."""
    cut = cutoffs(now)
    if dry_run:
        return _would_delete(cut)
    size = max(1, int(batch_size or app_settings.CLEANUP_BATCH_SIZE))

    def drop_session_tokens(session_pks: list) -> dict[str, int]:
        # A long-lived session can own thousands of rotated tokens: delete them
        # in batches too, before the session row, instead of one huge cascade.
        tokens = RefreshToken.objects.of_sessions(session_pks)
        return delete_in_batches(tokens, size, delete=delete_refresh_tokens)

    counts: dict[str, int] = {}
    _add(
        counts, delete_in_batches(purgeable_refresh_tokens(cut), size, delete=delete_refresh_tokens)
    )
    _add(counts, delete_in_batches(purgeable_sessions(cut), size, before_batch=drop_session_tokens))
    for queryset in (
        purgeable_mfa_challenges(cut),
        purgeable_webauthn_challenges(cut),
        purgeable_audit_events(cut),
        purgeable_magic_links(cut),
    ):
        _add(counts, delete_in_batches(queryset, size))
    return CleanupReport(
        refresh_tokens=_count(counts, RefreshToken),
        sessions=_count(counts, Session),
        mfa_challenges=_count(counts, MFAChallenge),
        webauthn_challenges=_count(counts, WebAuthnChallenge),
        audit_events=_count(counts, AuditEvent),
        magic_links=_count(counts, MagicLink),
    )
