"""SecureAuth's steps in the social-auth pipeline, and the pipeline itself.

Rules: an identity already linked signs its user in; otherwise a provider
email that matches an account links to it only when the provider asserts the
address is verified and ``SOCIAL_AUTO_LINK_VERIFIED_EMAIL`` is on (else 409
``account_exists``); otherwise a new user is created with no usable password.
Provider tokens are never kept; a provider-verified address is recorded as a
``VerifiedEmail``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from social_core.backends.github import GithubOAuth2

from ..conf import app_settings
from ..constants import RevokeReason
from ..exceptions import AccountExists, EmailTaken, Invalid
from ..models import VerifiedEmail
from ..models.users import load_security_state
from ..services.sessions import revoke_all_sessions
from ..services.users import create_user as create_secureauth_user
from ..services.users import email_field, find_user_by_any_email, normalize_email

PIPELINE = (
    "social_core.pipeline.social_auth.social_details",
    "social_core.pipeline.social_auth.social_uid",
    "social_core.pipeline.social_auth.auth_allowed",
    "social_core.pipeline.social_auth.social_user",
    "secureauth.social.pipeline.provider_email",
    "secureauth.social.pipeline.link_by_email",
    "secureauth.social.pipeline.create_user",
    "social_core.pipeline.social_auth.associate_user",
    "secureauth.social.pipeline.forget_provider_tokens",
    "secureauth.social.pipeline.record_verified_email",
)

#: extra_data keys that hold provider credentials: never stored.
SECRET_KEYS = frozenset({"access_token", "refresh_token", "id_token", "token_type", "expires"})


@dataclass
class SocialOutcome:
    """What the pipeline decided, for the service to audit (passed in as ``secureauth_outcome``)."""

    email: str = ""
    email_verified: bool = False
    linked_by_email: bool = False
    voided_unproven_account: bool = False
    new_user: bool = False
    new_association: bool = False
    provider_claims: dict[str, Any] = field(default_factory=dict)


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def provider_verified(backend, response: dict, email: str) -> bool:
    """Whether the provider asserts that ``email`` is verified.

    GitHub: the address is the account's primary email and marked verified
    (needs the ``user:email`` scope). OpenID Connect and Google: the
    ``email_verified`` claim of UserInfo, else of the validated ID token."""
    if not email:
        return False
    if isinstance(backend, GithubOAuth2):
        return any(
            isinstance(entry, dict)
            and entry.get("primary") is True
            and entry.get("verified") is True
            and normalize_email(str(entry.get("email", ""))) == email
            for entry in response.get("emails") or []
        )
    if "email_verified" in response:
        return _truthy(response["email_verified"])
    id_token = getattr(backend, "id_token", None)
    if isinstance(id_token, dict) and normalize_email(str(id_token.get("email", ""))) == email:
        return _truthy(id_token.get("email_verified"))
    return False


def provider_email(backend, details, response, secureauth_outcome: SocialOutcome, **kwargs):
    """Read the provider's email and whether it vouches for it."""
    email = normalize_email(str(details.get("email") or ""))
    secureauth_outcome.email = email
    secureauth_outcome.email_verified = provider_verified(backend, response or {}, email)
    claims = getattr(backend, "id_token", None)
    secureauth_outcome.provider_claims = dict(claims) if isinstance(claims, dict) else {}


def link_by_email(backend, secureauth_outcome: SocialOutcome, user=None, **kwargs):
    """An unknown identity whose email belongs to an account: link it if allowed, else 409."""
    if user is not None or not secureauth_outcome.email:
        return None
    existing = find_user_by_any_email(secureauth_outcome.email)
    if existing is None:
        return None
    if not (secureauth_outcome.email_verified and app_settings.SOCIAL_AUTO_LINK_VERIFIED_EMAIL):
        raise AccountExists()
    if not existing.sa_email_verified:
        _void_unproven_credentials(existing)
        secureauth_outcome.voided_unproven_account = True
    secureauth_outcome.linked_by_email = True
    return {"user": existing, "is_new": False}


def _void_unproven_credentials(user) -> None:
    """The account's address was never proven, so whoever set its password and
    holds its sessions may not own the address the provider just proved: a
    pre-registered account must not stay open to them once the owner links."""
    if user.has_usable_password():
        user.set_unusable_password()
        user.save(update_fields=["password"])
    revoke_all_sessions(user, RevokeReason.PASSWORD_CHANGED)


def create_user(backend, secureauth_outcome: SocialOutcome, user=None, **kwargs):
    """A new identity with no matching account: a new user without a usable password."""
    if user is not None:
        return None
    if not secureauth_outcome.email:
        raise Invalid("The provider did not share an email address.")
    try:
        user = create_secureauth_user(secureauth_outcome.email, None)
    except EmailTaken:  # created concurrently: the linking rules apply next time
        raise AccountExists()
    secureauth_outcome.new_user = True
    return {"user": user, "is_new": True}


def forget_provider_tokens(
    secureauth_outcome: SocialOutcome, social=None, new_association: bool = False, **kwargs
):
    """Keep no provider credential in ``UserSocialAuth.extra_data``."""
    secureauth_outcome.new_association = bool(new_association)
    if social is None:
        return
    data = social.extra_data or {}
    kept = {key: value for key, value in data.items() if key not in SECRET_KEYS}
    if kept != data:
        social.extra_data = kept
        social.save(update_fields=["extra_data"])


def record_verified_email(user=None, secureauth_outcome: SocialOutcome | None = None, **kwargs):
    """A provider-verified address becomes a VerifiedEmail of the user."""
    if user is None or secureauth_outcome is None or not secureauth_outcome.email_verified:
        return
    email = secureauth_outcome.email
    account_email = getattr(user, email_field(), "") or ""
    if normalize_email(account_email) == email:
        email = account_email  # stored as the account spells it, as sa_email_verified compares
    if not VerifiedEmail.objects.filter(user=user, email__iexact=email).exists():
        try:
            with transaction.atomic():
                VerifiedEmail.objects.create(user=user, email=email)
        except IntegrityError:
            pass
    if email == account_email:
        load_security_state(user)
