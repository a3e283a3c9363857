"""Signing in: password check behind the login limiter, then a new session."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from .. import signals
from ..client import ClientInfo
from ..constants import Event
from ..exceptions import InvalidCredentials, RateLimited
from ..throttling import LoginLimiter
from . import audit
from .challenges import start_challenge
from .sessions import IssuedTokens, start_session
from .users import find_user_by_email, verify_password
from .verification import ensure_sign_in_allowed


def sign_in_with_password(email: str, password: str, client: ClientInfo):
    """Check email and password; returns IssuedTokens, or an MFA challenge when the
    user has a second factor. Failures count toward the login limiter; a locked
    key refuses even correct credentials."""
    limiter = LoginLimiter(client.ip, email)
    try:
        limiter.check()
    except RateLimited as refused:
        audit.record(
            Event.LOGIN_RATE_LIMITED,
            client=client,
            email=email[:254],
            retry_after=refused.retry_after,
        )
        signals.login_rate_limited.send(sender=None, key=email, retry_after=refused.retry_after)
        raise
    user = find_user_by_email(email)
    if not verify_password(user, password) or not user.is_active:
        limiter.record_failure()
        audit.record(Event.LOGIN_FAILED, user=user, client=client, email=email[:254])
        signals.login_failed.send(sender=None, email=email, user=user, ip=client.ip)
        raise InvalidCredentials()
    limiter.record_success()
    ensure_sign_in_allowed(user, client)
    if user.sa_mfa_enabled:
        return start_challenge(user, client, amr=["pwd"])
    return complete_sign_in(user, client, ["pwd"])


def complete_sign_in(
    user, client: ClientInfo, amr: list[str], event: str = Event.LOGIN_SUCCEEDED, **detail
) -> IssuedTokens:
    """Open the session of a user who has passed every factor, and audit it
    (one transaction: the session exists only with its audit event)."""
    with transaction.atomic():
        issued = start_session(user, client, amr)
        get_user_model()._default_manager.filter(pk=user.pk).update(last_login=timezone.now())
        audit.record(event, user=user, session=issued.session, client=client, amr=amr, **detail)
    signals.login_succeeded.send(sender=None, user=user, session=issued.session)
    return issued
