"""Email verification: a signed link proves the user controls the address."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from ..client import ClientInfo
from ..conf import app_settings
from ..constants import Event
from ..exceptions import Invalid
from ..models import VerifiedEmail
from . import audit
from .users import email_field


class EmailVerificationTokenGenerator(PasswordResetTokenGenerator):
    """Django's token generator, bound to the address being verified."""

    key_salt = "secureauth.email-verification"

    def _make_hash_value(self, user, timestamp):
        email = getattr(user, email_field(), "") or ""
        verified = VerifiedEmail.objects.filter(user=user, email=email).exists()
        return f"{user.pk}{email}{verified}{timestamp}"


email_verification_token = EmailVerificationTokenGenerator()


def encode_uid(user) -> str:
    return urlsafe_base64_encode(force_bytes(user.pk))


def user_from_uid(uid: str):
    """The user an encoded uid names, or None for anything malformed or unknown."""
    User = get_user_model()
    try:
        pk = force_str(urlsafe_base64_decode(uid))
        return User._default_manager.get(pk=pk)
    except (TypeError, ValueError, OverflowError, User.DoesNotExist, Exception):
        return None


def build_link(template: str, user, token: str) -> str:
    return template.format(
        frontend=app_settings.FRONTEND_URL.rstrip("/"), uid=encode_uid(user), token=token
    )


def send_verification_email(user) -> None:
    """Mail the user a link that verifies their current address."""
    email = getattr(user, email_field(), "")
    if not email:
        return
    context = {
        "user": user,
        "link": build_link(
            app_settings.EMAIL_VERIFY_URL, user, email_verification_token.make_token(user)
        ),
    }
    send_mail(
        subject=render_to_string("secureauth/email/verify_subject.txt", context).strip(),
        message=render_to_string("secureauth/email/verify_body.txt", context),
        from_email=None,
        recipient_list=[email],
    )


def confirm_email(uid: str, token: str, client: ClientInfo) -> None:
    """Mark the address verified if the link is valid (single use: the token
    depends on the verified state)."""
    user = user_from_uid(uid)
    if user is None or not email_verification_token.check_token(user, token):
        raise Invalid("The verification link is invalid or has expired.")
    email = getattr(user, email_field(), "")
    try:
        with transaction.atomic():
            VerifiedEmail.objects.create(user=user, email=email)
    except IntegrityError:
        raise Invalid("The verification link is invalid or has expired.")
    audit.record(Event.EMAIL_VERIFIED, user=user, client=client, email=email)
