"""Re-authentication (RFC 9470): sensitive operations need a recent proof.

The access token's ``auth_time`` is when the user last proved a credential in its
session (its sign-in or its latest re-authentication); it must be within
REAUTH_MAX_AGE, or the request carries its own proof. ``reauthenticate`` takes a
password, a TOTP or recovery code, or a passkey assertion (``services.passkeys``)
and renews the session's ``auth_time``; wrong proofs count toward the login limiter.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from ..client import ClientInfo
from ..conf import app_settings
from ..constants import Event
from ..exceptions import Conflict, MFAInvalid, ReauthenticationRequired
from ..models import Session
from ..models.users import load_security_state
from ..throttling import LoginLimiter
from . import audit
from .login import record_failure
from .mfa import is_mfa_enabled, verify_second_factor
from .passwords import check_password_proof
from .sessions import issue_access_token
from .verification import user_email

if TYPE_CHECKING:
    from ..types import UserType


@dataclass(frozen=True)
class Reauthenticated:
    access_token: str
    expires_in: int
    auth_time: datetime
    token_type: str = "Bearer"  # "DPoP" when the session is bound to a DPoP key


def max_age_seconds() -> int:
    return int(app_settings.REAUTH_MAX_AGE.total_seconds())


def is_recently_authenticated(claims: dict[str, Any]) -> bool:
    """Whether the token's ``auth_time`` is within REAUTH_MAX_AGE."""
    auth_time = claims.get("auth_time")
    if not isinstance(auth_time, int | float) or isinstance(auth_time, bool):
        return False
    return time.time() - auth_time <= max_age_seconds()


def require_recent_authentication(claims: dict[str, Any]) -> None:
    """ReauthenticationRequired (401, RFC 9470 challenge) unless the token is recent."""
    if not is_recently_authenticated(claims):
        raise ReauthenticationRequired(
            "Confirm your identity (reauthenticate/) to perform this action.",
            max_age=max_age_seconds(),
        )


def _check_second_factor(
    user: UserType,
    session: Session,
    code: str | None,
    recovery_code: str | None,
    client: ClientInfo,
) -> str:
    """A TOTP or recovery code as proof; wrong ones count toward the login limiter, and
    the one that locks it writes its ``login_rate_limited`` event (``record_failure``)."""
    if not is_mfa_enabled(user):
        raise Conflict("Two-factor authentication is not enabled; send your password.")
    email = user_email(user)
    limiter = LoginLimiter(client.ip, email)
    with limiter.attempt():
        method = verify_second_factor(user, code, recovery_code)
        if method is None:
            record_failure(limiter, user, client, email)
            audit.record_event(
                Event.MFA_FAILED,
                user=user,
                session=session,
                client=client,
                purpose="reauthenticate",
                method="totp" if code is not None else "recovery_code",
            )
            raise MFAInvalid()
    return method


def renew_authentication(
    user: UserType, session: Session, client: ClientInfo, method: str
) -> Reauthenticated:
    """The user just proved a credential: the session's ``auth_time`` is now, and a new
    access token carries it."""
    now = timezone.now()
    Session.objects.renew_auth_time(session, now)
    session.auth_time = now
    load_security_state(user)
    access, lifetime = issue_access_token(session, user, now)
    audit.record_event(
        Event.REAUTHENTICATED, user=user, session=session, client=client, method=method
    )
    return Reauthenticated(access, lifetime, now, "DPoP" if session.dpop_jkt else "Bearer")


def reauthenticate(
    user: UserType,
    session: Session,
    client: ClientInfo,
    *,
    password: str | None = None,
    code: str | None = None,
    recovery_code: str | None = None,
) -> Reauthenticated:
    """Prove the caller again with the password, or (TOTP users) a current code or a
    recovery code; returns a new access token for the same session."""
    if password is not None:
        check_password_proof(user, password, client)
        method = "pwd"
    else:
        method = _check_second_factor(user, session, code, recovery_code, client)
    with transaction.atomic():
        return renew_authentication(user, session, client, method)
