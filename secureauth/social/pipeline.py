"""SecureAuth's steps in the social-auth pipeline, and the pipeline itself.

Rules: an identity already linked signs its user in. A new identity whose email
belongs to an account links to it only when the provider asserts the address is
verified, the account has no usable password and ``SOCIAL_AUTO_LINK_VERIFIED_EMAIL``
is on; otherwise 409 ``account_exists`` (the owner signs in and uses ``connect/``).
Otherwise a new user is created, with no usable password, only for an address the
provider asserts verified (else 403 ``email_unverified``). Addresses are compared
by their canonical key (``secureauth.emails``). Provider tokens are never kept; a
provider-verified address is recorded as a ``VerifiedEmail``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from social_core.backends.github import GithubOAuth2

from ..conf import app_settings
from ..emails import InvalidEmail, canonical_email
from ..exceptions import AccountExists, EmailTaken, EmailUnverified, Invalid
from ..models import VerifiedEmail
from ..models.users import load_security_state
from ..services.users import create_user as create_secureauth_user
from ..services.users import email_field, find_user_by_email, normalize_email

if TYPE_CHECKING:
    from ..types import UserType

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

    email: str = ""  # as the provider spells it
    email_key: str = ""  # its canonical key ("" when it has none)
    email_verified: bool = False
    linked_by_email: bool = False
    new_user: bool = False
    new_association: bool = False
    provider_claims: dict[str, Any] = field(default_factory=dict)


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def email_key(email: str) -> str:
    """The canonical key of ``email``, or "" when it has none."""
    try:
        return canonical_email(email) if email else ""
    except InvalidEmail:
        return ""


def provider_verified(backend, response: dict, key: str) -> bool:
    """Whether the provider asserts that the address with canonical key ``key`` is verified.

    GitHub: the address is the account's primary email and marked verified
    (needs the ``user:email`` scope). OpenID Connect and Google: the
    ``email_verified`` claim of UserInfo, else of the validated ID token."""
    if not key:
        return False
    if isinstance(backend, GithubOAuth2):
        return any(
            isinstance(entry, dict)
            and entry.get("primary") is True
            and entry.get("verified") is True
            and email_key(str(entry.get("email", ""))) == key
            for entry in response.get("emails") or []
        )
    if "email_verified" in response:
        return _truthy(response["email_verified"])
    id_token = getattr(backend, "id_token", None)
    if isinstance(id_token, dict) and email_key(str(id_token.get("email", ""))) == key:
        return _truthy(id_token.get("email_verified"))
    return False


def provider_email(backend, details, response, secureauth_outcome: SocialOutcome, **kwargs):
    """Read the provider's email and whether it vouches for it."""
    email = str(details.get("email") or "").strip()
    secureauth_outcome.email = email
    secureauth_outcome.email_key = email_key(email)
    secureauth_outcome.email_verified = provider_verified(
        backend, response or {}, secureauth_outcome.email_key
    )
    claims = getattr(backend, "id_token", None)
    secureauth_outcome.provider_claims = dict(claims) if isinstance(claims, dict) else {}


def link_by_email(
    backend: Any, secureauth_outcome: SocialOutcome, user: UserType | None = None, **kwargs: Any
) -> dict[str, Any] | None:
    """An unknown identity whose email belongs to an account: link it only when the
    provider asserts the address verified and the account has no usable password
    (a password someone else may have set on an address they do not own must not
    stay a way into the owner's account), else AccountExists (409)."""
    if user is not None or not secureauth_outcome.email_key:
        return None
    existing = find_user_by_email(secureauth_outcome.email)  # the adapter is given the email
    if existing is None:
        return None
    if not (
        secureauth_outcome.email_verified
        and app_settings.SOCIAL_AUTO_LINK_VERIFIED_EMAIL
        and not existing.has_usable_password()
    ):
        raise AccountExists()
    secureauth_outcome.linked_by_email = True
    return {"user": existing, "is_new": False}


def create_user(
    backend: Any, secureauth_outcome: SocialOutcome, user: UserType | None = None, **kwargs: Any
) -> dict[str, Any] | None:
    """A new identity with no matching account: a new user without a usable password,
    only for an address the provider asserts verified (else EmailUnverified, 403)."""
    if user is not None:
        return None
    if not secureauth_outcome.email_key:
        raise Invalid("The provider did not share an email address.")
    if not secureauth_outcome.email_verified:
        raise EmailUnverified("The provider does not vouch for this email address.")
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


def record_verified_email(
    user: UserType | None = None,
    secureauth_outcome: SocialOutcome | None = None,
    **kwargs: Any,
) -> None:
    """A provider-verified address becomes a VerifiedEmail of the user (spelled as the
    account spells it when it is the account's own address)."""
    if user is None or secureauth_outcome is None or not secureauth_outcome.email_verified:
        return
    account_email = getattr(user, email_field(), "") or ""
    own_address = email_key(account_email) == secureauth_outcome.email_key
    email = account_email if own_address else normalize_email(secureauth_outcome.email)
    try:
        with transaction.atomic():
            VerifiedEmail.objects.create(user=user, email=email)
    except IntegrityError:  # recorded before (the pair is unique)
        pass
    if own_address:
        load_security_state(user)
