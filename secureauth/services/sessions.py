"""Sessions: opening one at sign-in, issuing its tokens, revoking it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from .. import signals
from ..adapter import get_adapter
from ..client import ClientInfo, DeviceInfo, device_display_name
from ..conf import app_settings
from ..constants import Event, RevokeReason
from ..crypto import new_refresh_token, token_digest
from ..exceptions import Invalid
from ..models import Account, MFAChallenge, RefreshToken, Session
from ..models.users import security_state
from ..tokens import encode_access_token
from . import audit
from .notifications import session_id_from_report_token

if TYPE_CHECKING:
    from ..types import UserType


@dataclass(frozen=True)
class IssuedTokens:
    """What a sign-in or a refresh hands to the client (plaintext shown once)."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    session: Session
    user: UserType


def refresh_expiry(session: Session, now: datetime) -> datetime:
    """A refresh token lives REFRESH_TOKEN_LIFETIME (idle timeout), never past the session."""
    return min(now + app_settings.REFRESH_TOKEN_LIFETIME, session.expires_at)


def issue_access_token(session: Session, user: UserType, now: datetime) -> tuple[str, int]:
    """A fresh access token for ``session`` (its ``auth_time`` carried over); returns
    (token, lifetime in seconds). ``user`` must carry its security state."""
    return encode_access_token(
        user_id=str(user.pk),
        session_id=str(session.pk),
        roles=list(security_state(user).roles),
        amr=list(session.amr),
        auth_time=session.auth_time,
        extra_claims=get_adapter().access_token_claims(user, session),
        now=now,
        dpop_jkt=session.dpop_jkt or None,
    )


def issue_tokens(
    session: Session, user: UserType, refresh_plain: str, refresh_row: RefreshToken, now: datetime
) -> IssuedTokens:
    """Sign a fresh access token for ``session`` and pair it with the given refresh token."""
    access, lifetime = issue_access_token(session, user, now)
    refresh_lifetime = max(0, int((refresh_row.expires_at - now).total_seconds()))
    return IssuedTokens(access, lifetime, refresh_plain, refresh_lifetime, session, user)


def start_session(
    user: UserType, client: ClientInfo, amr: list[str], device: DeviceInfo | None = None
) -> IssuedTokens:
    """Open a new session (a new token family) for a user who just proved who they are.

    ``user`` should carry its security state (``models.users.security_state``);
    ``device`` is the client's parsed User-Agent, if the caller has it already."""
    now = timezone.now()
    if device is None:
        device = get_adapter().parse_device(client.user_agent)
    plain = new_refresh_token()
    # Part of the caller's transaction when there is one (no savepoint to set and release).
    with transaction.atomic(savepoint=False):
        session = Session.objects.open(
            user=user,
            device_name=device_display_name(device, client.device_name)[:128],
            user_agent=client.user_agent[:512],
            browser=device.browser[:64],
            os=device.os[:64],
            device_type=device.type,
            ip=client.ip,
            amr=amr,
            auth_time=now,
            created_at=now,
            last_used_at=now,
            expires_at=now + app_settings.SESSION_MAX_AGE,
            dpop_jkt=client.dpop_jkt or "",
        )
        row = RefreshToken.objects.issue(
            session, token_digest(plain), now, refresh_expiry(session, now)
        )
    return issue_tokens(session, user, plain, row, now)


def revoke_session(
    session: Session,
    reason: str,
    *,
    client: ClientInfo | None = None,
    event: str | None = Event.SESSION_REVOKED,
) -> bool:
    """Revoke one session (its refresh tokens and access tokens stop working at once).

    Returns False when it was already revoked; audits ``event`` otherwise."""
    now = timezone.now()
    if not Session.objects.filter(pk=session.pk).revoke(reason, now):
        return False
    session.revoked_at, session.revoked_reason = now, reason
    if event:
        audit.record_event(event, user=session.user, session=session, client=client, reason=reason)
    signals.send_after_commit(
        signals.session_revoked, sender=Session, session=session, reason=reason
    )
    return True


def revoke_all_sessions(user: UserType, reason: str, *, except_session_id: Any = None) -> int:
    """Revoke every active session of ``user`` (but ``except_session_id``); returns the count.

    The caller audits the action that caused it (logout_all, password_changed, ...)."""
    now = timezone.now()
    pending = Session.objects.unrevoked_of(user)
    if except_session_id is not None:
        pending = pending.exclude(pk=except_session_id)
    sessions = list(pending)
    count = Session.objects.filter(pk__in=[s.pk for s in sessions]).revoke(reason, now)
    for session in sessions:
        session.revoked_at, session.revoked_reason = now, reason
        signals.send_after_commit(
            signals.session_revoked, sender=Session, session=session, reason=reason
        )
    return count


def active_sessions(user: UserType) -> list[Session]:
    """The user's sessions that can still be used, newest first."""
    return list(Session.objects.active_for(user))


def get_own_session(user: UserType, session_id: str) -> Session | None:
    """One of the user's sessions by id, or None (unknown, malformed, or another user's)."""
    found = Session.objects.with_user(session_id)
    if found is None or found.user_id != user.pk:
        return None
    return found


def credentials_changed(user: UserType) -> None:
    """A credential changed (password changed or reset, a factor added or removed):
    a new credential epoch starts, so a sign-in checked under the old one commits no
    session, and every pending MFA challenge is spent. Call it in the transaction that
    makes the change, before revoking sessions."""
    Account.objects.bump_epoch(user)
    MFAChallenge.objects.spend_pending_of(user, timezone.now())


def record_factor_change(
    event: str, user: UserType, session: Session, client: ClientInfo, **detail: Any
) -> int:
    """A sign-in factor was added or removed: a new credential epoch, every other
    session of the user revoked (the caller's stays), the change audited (and mailed
    to the owner). Returns how many sessions were revoked."""
    with transaction.atomic():
        credentials_changed(user)
        revoked = revoke_all_sessions(user, RevokeReason.MFA_CHANGED, except_session_id=session.pk)
        audit.record_event(
            event, user=user, session=session, client=client, sessions_revoked=revoked, **detail
        )
    return revoked


def report_session(token: str, client: ClientInfo) -> None:
    """ "This wasn't me": the token of a new-device mail revokes that session at once.
    Single use; Invalid for a forged, expired or used token."""
    session_id = session_id_from_report_token(token)
    session = Session.objects.report(session_id, timezone.now()) if session_id else None
    if session is None:
        raise Invalid("This link is invalid, expired or already used.")
    audit.record_event(Event.SESSION_REPORTED, user=session.user, session=session, client=client)
    signals.send_after_commit(
        signals.session_revoked, sender=Session, session=session, reason=RevokeReason.REPORTED
    )
