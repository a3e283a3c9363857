"""Refresh-token rotation with reuse (theft) detection and a grace window."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from .. import signals
from ..client import ClientInfo
from ..conf import app_settings
from ..constants import Event, RevokeReason
from ..crypto import derive_child_token, looks_like_refresh_token, token_digest
from ..exceptions import SessionRevoked, TokenExpired, TokenInvalid, TokenReused
from ..models import RefreshToken, Session
from ..models.users import attach_security_state
from ..races import checkpoint
from . import audit
from .dpop import check_key_binding
from .sessions import IssuedTokens, issue_tokens, refresh_expiry, revoke_session


def find_refresh_token(presented: str) -> RefreshToken:
    """The stored token for a presented plaintext, with session and user; or TokenInvalid."""
    if not looks_like_refresh_token(presented):
        raise TokenInvalid("Refresh token is malformed.")
    row = RefreshToken.objects.lookup(token_digest(presented))
    checkpoint("refresh.found")
    if row is None:
        raise TokenInvalid("Unknown refresh token.")
    attach_security_state(row.session.user, row)
    return row


def _check_session(session: Session, now: datetime) -> None:
    if session.revoked_at is not None:
        raise SessionRevoked()
    if session.expires_at <= now:
        raise TokenExpired("The session has reached its maximum age; sign in again.")
    if not session.user.is_active:
        raise TokenInvalid("This account is disabled.")


def rotate_refresh_token(presented: str, client: ClientInfo) -> IssuedTokens:
    """Exchange a refresh token for a new one and retire the old one.

    One atomic claim decides the single winner. A retired token presented again
    is theft and revokes the session, except the immediate parent of the
    session's current token inside the grace window, which gets that same child
    (derived from the parent by HMAC) back.

    A session bound to a DPoP key is refreshed only with a proof by that key
    (``client.dpop_jkt``), checked before anything else: without the key, a bound
    token is of no use, not even to set off reuse detection. An unbound session
    refreshed with a proof is bound to its key from then on.
    """
    now = timezone.now()
    row = find_refresh_token(presented)
    session, user = row.session, row.session.user
    _check_session(session, now)
    check_key_binding(session.dpop_jkt, client.dpop_jkt)
    if row.rotated_at is None:
        if row.expires_at <= now:
            raise TokenExpired("Refresh token has expired; sign in again.")
        child_plain = derive_child_token(presented, row.child_salt)
        with transaction.atomic():
            if RefreshToken.objects.claim(row, now):
                checkpoint("refresh.claimed")  # retired, its child not yet written
                child = RefreshToken.objects.issue(
                    session, token_digest(child_plain), now, refresh_expiry(session, now), row
                )
                session.last_used_at, session.ip = now, client.ip or session.ip
                Session.objects.record_use(session, now, session.ip)
                if client.dpop_jkt and not session.dpop_jkt:
                    Session.objects.bind_dpop_key(session, client.dpop_jkt)
                    session.dpop_jkt = client.dpop_jkt
                return issue_tokens(session, user, child_plain, child, now)
        row.refresh_from_db(fields=["rotated_at"])
    return _answer_retired(row, presented, client, now)


def _answer_retired(
    row: RefreshToken, presented: str, client: ClientInfo, now: datetime
) -> IssuedTokens:
    """A retired token: the grace-window retry, or theft."""
    session, user = row.session, row.session.user
    grace = timedelta(seconds=app_settings.REFRESH_REUSE_GRACE_SECONDS)
    if grace and row.rotated_at is not None and now - row.rotated_at <= grace:
        child = RefreshToken.objects.child_of(row)
        if child is not None and child.rotated_at is None and child.expires_at > now:
            child_plain = derive_child_token(presented, row.child_salt)
            if token_digest(child_plain) == bytes(child.token_hash):
                if not session.dpop_jkt:  # the first refresh may have bound it meanwhile
                    session.refresh_from_db(fields=["dpop_jkt"])
                    check_key_binding(session.dpop_jkt, client.dpop_jkt)
                return issue_tokens(session, user, child_plain, child, now)
    checkpoint("refresh.reuse_detected")
    report_reuse(row, client)
    raise TokenReused()


def report_reuse(row: RefreshToken, client: ClientInfo) -> None:
    """Theft detected: revoke the whole session, audit it, tell the host project.

    Once per session: of a burst of concurrent replays, only the one that revokes the
    session writes ``refresh_token_reused``."""
    session = row.session
    if not revoke_session(session, RevokeReason.REUSE, client=client, event=None):
        return
    audit.record_event(
        Event.REFRESH_TOKEN_REUSED,
        user=session.user,
        session=session,
        client=client,
        token_id=row.pk,
        rotated_at=row.rotated_at,
    )
    signals.send_after_commit(
        signals.refresh_token_reused, sender=Session, session=session, token=row
    )
