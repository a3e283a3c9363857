"""Signing in: password check behind the login limiter, then a new session."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from .. import signals
from ..adapter import get_adapter
from ..client import ClientInfo
from ..conf import app_settings
from ..constants import Event
from ..exceptions import InvalidCredentials
from ..models import Account
from ..models.users import record_last_login, security_state
from ..races import checkpoint
from ..throttling import LoginLimiter
from . import audit
from .challenges import PendingMFA, start_challenge
from .sessions import IssuedTokens, start_session
from .users import find_user_by_email, verify_password
from .verification import ensure_sign_in_allowed

if TYPE_CHECKING:
    from ..types import UserType

CREDENTIALS_CHANGED = "Your sign-in details changed while you were signing in; sign in again."


def record_failure(
    limiter: LoginLimiter, user: UserType | None, client: ClientInfo, email: str, **detail: Any
) -> None:
    """A wrong password or code inside ``limiter.attempt()``: count it; the failure that
    installs a lock writes that lock's one ``login_rate_limited`` event and signal."""
    locks = limiter.failed()
    if not locks:
        return
    retry_after = max(seconds for _, seconds in locks)
    audit.record_event(
        Event.LOGIN_RATE_LIMITED,
        user=user,
        client=client,
        email=email[:254],
        locked=[name for name, _ in locks],
        retry_after=retry_after,
        **detail,
    )
    signals.send_after_commit(
        signals.login_rate_limited, sender=None, key=email, retry_after=retry_after
    )


def check_password_attempt(
    limiter: LoginLimiter,
    user: UserType | None,
    password: str,
    client: ClientInfo,
    *,
    email: str = "",
) -> bool:
    """One password check inside ``limiter.attempt()``: True when right; a wrong one is
    counted (``record_failure``)."""
    if verify_password(user, password) and (user is None or user.is_active):
        limiter.succeeded()
        return True
    record_failure(limiter, user, client, email)
    return False


def sign_in_with_password(
    email: str, password: str, client: ClientInfo
) -> IssuedTokens | PendingMFA:
    """Check email and password; returns IssuedTokens, or an MFA challenge when the
    user has a second factor. Only wrong passwords count toward the login limiter;
    a locked key refuses even correct credentials."""
    limiter = LoginLimiter(client.ip, email)
    with limiter.attempt():
        user = find_user_by_email(email)
        checkpoint("login.admitted")
        if not check_password_attempt(limiter, user, password, client, email=email):
            audit.record_event(Event.LOGIN_FAILED, user=user, client=client, email=email[:254])
            signals.send_after_commit(
                signals.login_failed, sender=None, email=email, user=user, ip=client.ip
            )
            raise InvalidCredentials()
    assert user is not None  # a right password names a user
    checkpoint("login.password_checked")
    ensure_sign_in_allowed(user, client)
    state = security_state(user)
    epoch = state.credential_epoch
    if state.mfa_enabled:
        return start_challenge(user, client, amr=["pwd"], credential_epoch=epoch)
    return complete_sign_in(user, client, ["pwd"], credential_epoch=epoch)


def complete_sign_in(
    user: UserType,
    client: ClientInfo,
    amr: list[str],
    event: str = Event.LOGIN_SUCCEEDED,
    *,
    credential_epoch: int | None = None,
    **detail: Any,
) -> IssuedTokens:
    """Open the session of a user who has passed every factor, and audit it
    (one transaction: the session exists only with its audit event).

    ``credential_epoch`` is the epoch the factors were checked under: if a credential
    changed since (password changed or reset, a second factor added), no session is
    opened. The user's account row is locked, so a change committing meanwhile either
    happens first (and is seen here) or after (and revokes this session)."""
    device = get_adapter().parse_device(client.user_agent)
    since = timezone.now() - app_settings.NEW_DEVICE_WINDOW
    if client.dpop_jkt:
        detail["dpop_jkt"] = client.dpop_jkt
    with transaction.atomic():
        # The lock also tells whether the user signed in from this device kind lately.
        account = Account.objects.lock_for_sign_in(user, device, since)
        stale = credential_epoch is not None and account.credential_epoch != credential_epoch
        if not stale:
            issued = start_session(user, client, amr, device)
            record_last_login(user, timezone.now())
            session = issued.session
            audit.record_event(event, user=user, session=session, client=client, amr=amr, **detail)
            # A new device kind, except on the account's first sign-in (told by last_login,
            # which outlives the session rows cleanup deletes).
            if user.last_login is not None and not account.sa_device_seen:  # type: ignore[attr-defined]
                audit.record_event(
                    Event.NEW_DEVICE_SIGN_IN, user=user, session=session, client=client
                )
    if stale:
        audit.record_event(
            Event.LOGIN_FAILED, user=user, client=client, reason="credentials_changed"
        )
        raise InvalidCredentials(CREDENTIALS_CHANGED)
    signals.send_after_commit(
        signals.login_succeeded, sender=None, user=user, session=issued.session
    )
    return issued
