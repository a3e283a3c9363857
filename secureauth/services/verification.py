"""Email verification: a signed link proves the user controls the address.

Links are built from settings (FRONTEND_URL and EMAIL_VERIFY_URL / PASSWORD_RESET_URL),
never from the request's Host header. Tokens are Django's signed, time-limited tokens
(valid PASSWORD_RESET_TIMEOUT seconds); the verification token also depends on the
address and on whether it is verified, so it works once and only for that address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from ..client import ClientInfo
from ..conf import app_settings
from ..constants import Event
from ..exceptions import EmailUnverified, Invalid, PermissionDenied
from ..mail import send_template_after_commit
from ..models import VerifiedEmail
from ..models.users import security_state, update_security_state
from . import audit
from .users import email_field

if TYPE_CHECKING:
    from ..types import UserType

INVALID_LINK = "The verification link is invalid or has expired."


class EmailVerificationTokenGenerator(PasswordResetTokenGenerator):
    """Django's token generator, bound to the address being verified."""

    key_salt = "secureauth.email-verification"

    def _make_hash_value(self, user: UserType, timestamp: int) -> str:
        email = user_email(user)
        verified = VerifiedEmail.objects.filter(user=user, email=email).exists()
        return f"{user.pk}{email}{verified}{timestamp}"


email_verification_token = EmailVerificationTokenGenerator()


def user_email(user: UserType) -> str:
    return getattr(user, email_field(), "") or ""


def encode_uid(user: UserType) -> str:
    return urlsafe_base64_encode(force_bytes(user.pk))


def user_from_uid(uid: str, *, for_update: bool = False) -> UserType | None:
    """The user an encoded uid names, or None for anything malformed or unknown.

    ``for_update`` locks the row (call inside ``transaction.atomic``)."""
    User = get_user_model()
    users = User._default_manager.all()
    if for_update:
        users = users.select_for_update()
    try:
        return users.get(pk=force_str(urlsafe_base64_decode(uid)))
    except (TypeError, ValueError, OverflowError, ValidationError, User.DoesNotExist):
        return None


def build_link(template: str, user: UserType, token: str) -> str:
    """A link for the user's mail, from a URL template in settings."""
    return template.format(
        frontend=app_settings.FRONTEND_URL.rstrip("/"), uid=encode_uid(user), token=token
    )


def send_link_email(template_prefix: str, user: UserType, link: str) -> bool:
    """Mail ``link`` to the user with the ``secureauth/email/<prefix>_*.txt`` templates,
    after the transaction commits and outside the request (``secureauth.mail``): the
    caller's answer and timing never depend on the mail server."""
    email = user_email(user)
    if not email:
        return False
    send_template_after_commit(template_prefix, email, {"user": user, "link": link})
    return True


def is_email_verified(user: UserType) -> bool:
    """Whether the user's current address is verified (the loaded state when present)."""
    return security_state(user).email_verified


def require_verified_email(user: UserType) -> None:
    """An account whose address is not proven gains no other way to sign in
    (EmailUnverified, 403): else whoever registered someone else's address first
    could plant a passkey, a TOTP device or an identity that outlives the owner's
    recovery of the account."""
    if not is_email_verified(user):
        raise EmailUnverified("Verify your email address before adding another way to sign in.")


def send_verification_email(user: UserType) -> bool:
    """Mail the user a link that verifies their current address."""
    token = email_verification_token.make_token(user)
    return send_link_email("verify", user, build_link(app_settings.EMAIL_VERIFY_URL, user, token))


def resend_verification_email(user: UserType) -> bool:
    """Mail a new verification link unless the address is verified already."""
    if is_email_verified(user):
        return False
    return send_verification_email(user)


def mark_email_verified(user: UserType, client: ClientInfo | None = None, **detail: Any) -> bool:
    """Record the user's current address as verified (and audit it); False if it was."""
    email = user_email(user)
    try:
        with transaction.atomic():
            VerifiedEmail.objects.create(user=user, email=email)
    except IntegrityError:
        return False
    update_security_state(user, email_verified=True)
    audit.record_event(Event.EMAIL_VERIFIED, user=user, client=client, email=email, **detail)
    return True


def confirm_email(uid: str, token: str, client: ClientInfo) -> None:
    """Mark the address verified if the link is valid. Single use: the token depends on
    the verified state, and of two concurrent uses the unique constraint lets one win."""
    user = user_from_uid(uid)
    if user is None or not email_verification_token.check_token(user, token):
        raise Invalid(INVALID_LINK)
    if not mark_email_verified(user, client):
        raise Invalid(INVALID_LINK)


def ensure_sign_in_allowed(user: UserType, client: ClientInfo) -> None:
    """With ALLOW_UNVERIFIED_LOGIN off, a user whose address is not verified may not
    sign in, even with the right password (PermissionDenied)."""
    if app_settings.ALLOW_UNVERIFIED_LOGIN or is_email_verified(user):
        return
    audit.record_event(Event.LOGIN_FAILED, user=user, client=client, reason="email_unverified")
    raise PermissionDenied(
        "Your email address is not verified. Open the link we sent you, then sign in."
    )
