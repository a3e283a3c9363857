"""Passwords: proving the current one, changing it, and resetting it by email.

New passwords go through Django's validators (``AUTH_PASSWORD_VALIDATORS``); a refused
one raises Django's ``ValidationError``, which the view reports as a field error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator as DjangoTokenGenerator
from django.db import transaction

from ..client import ClientInfo
from ..conf import app_settings
from ..constants import Event, RevokeReason
from ..exceptions import IncorrectPassword, Invalid
from ..models import Session
from ..throttling import LoginLimiter
from . import audit
from .login import check_password_attempt
from .sessions import credentials_changed, revoke_all_sessions
from .users import find_user_by_email, set_password
from .verification import (
    build_link,
    mark_email_verified,
    send_link_email,
    user_email,
    user_from_uid,
)

if TYPE_CHECKING:
    from ..types import UserType

INVALID_RESET_LINK = "The reset link is invalid or has expired."


class PasswordResetTokenGenerator(DjangoTokenGenerator):
    """Django's reset tokens without ``last_login`` in them: signing in does not void a
    pending link (else whoever knows the password could block recovery by signing in
    every few seconds). A link is voided by its use (the password hash changes), its
    expiry (PASSWORD_RESET_TIMEOUT) or a change of the password or the address."""

    key_salt = "secureauth.password-reset"

    def _make_hash_value(self, user: UserType, timestamp: int) -> str:
        return f"{user.pk}{user.password}{timestamp}{user_email(user)}"


password_reset_token = PasswordResetTokenGenerator()


def check_password_proof(user: UserType, password: str, client: ClientInfo) -> None:
    """The user's current password, as proof for a sensitive operation.

    Wrong guesses count toward the login limiter of the user's email and the client's
    IP, so a stolen access token cannot be used to guess the password."""
    limiter = LoginLimiter(client.ip, user_email(user))
    with limiter.attempt():
        if not check_password_attempt(limiter, user, password, client, email=user_email(user)):
            raise IncorrectPassword()


def change_password(
    user: UserType,
    current_password: str,
    new_password: str,
    *,
    session: Session,
    client: ClientInfo,
) -> int:
    """Set a new password against the current one; every other session is revoked
    (the caller's stays signed in) and pending sign-ins under the old password are
    void. Returns how many sessions were revoked."""
    check_password_proof(user, current_password, client)
    validate_password(new_password, user=user)
    with transaction.atomic():
        credentials_changed(user)
        set_password(user, new_password)
        revoked = revoke_all_sessions(
            user, RevokeReason.PASSWORD_CHANGED, except_session_id=session.pk
        )
        audit.record_event(
            Event.PASSWORD_CHANGED,
            user=user,
            session=session,
            client=client,
            sessions_revoked=revoked,
        )
    return revoked


def request_password_reset(email: str, client: ClientInfo) -> None:
    """Mail a reset link if an active account has this address; otherwise do the same
    work for nothing, so neither the answer nor its timing tells the two apart: one
    lookup, one token, one audit row; the mail is rendered and sent after the response
    (``secureauth.mail``).

    The link is built from settings, never from the request."""
    user = find_user_by_email(email)
    known = user is not None and user.is_active
    # An unsaved stand-in for an unknown or inactive account.
    subject = user if known and user is not None else get_user_model()(pk=0, password="")
    link = build_link(
        app_settings.PASSWORD_RESET_URL, subject, password_reset_token.make_token(subject)
    )
    if known and user is not None:
        send_link_email("reset", user, link)  # rendered and sent after the response
    audit.record_event(
        Event.PASSWORD_RESET_REQUESTED, user=user if known else None, client=client, known=known
    )


def reset_password(uid: str, token: str, new_password: str, client: ClientInfo) -> None:
    """Set a new password from a reset link and revoke every session; does not sign in.

    The link works once (the token depends on the password hash) and until
    PASSWORD_RESET_TIMEOUT. The user row is locked, so of two concurrent uses of one
    link only one succeeds. Opening the link proves the user reads the address, so it
    also counts as verifying it."""
    with transaction.atomic():
        user = user_from_uid(uid, for_update=True)
        if user is None or not user.is_active or not password_reset_token.check_token(user, token):
            raise Invalid(INVALID_RESET_LINK)
        validate_password(new_password, user=user)
        credentials_changed(user)
        set_password(user, new_password)
        revoked = revoke_all_sessions(user, RevokeReason.PASSWORD_RESET)
        mark_email_verified(user, client, via="password_reset")
        audit.record_event(
            Event.PASSWORD_RESET_COMPLETED, user=user, client=client, sessions_revoked=revoked
        )
    LoginLimiter(None, user_email(user)).clear_email()
