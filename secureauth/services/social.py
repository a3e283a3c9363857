"""Social login and SSO: signing in with a provider, linking and unlinking identities.

social-auth-app-django does the provider work (token exchange, ID token
validation, user data) through the backends the host configured; SecureAuth
decides which flows each backend accepts (``secureauth.social.flows``), checks that
a bare access token was issued to this application (``secureauth.social.audience``)
and applies the linking rules in its pipeline (``secureauth.social.pipeline``). A
social sign-in opens an ordinary SecureAuth session with ``amr`` ``["fed"]``.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import transaction
from social_core.exceptions import (
    AuthAssociationError,
    AuthConfigurationError,
    SocialAuthBaseException,
)
from social_core.utils import module_member
from social_django.utils import STORAGE

from ..client import ClientInfo
from ..conf import app_settings
from ..constants import SECOND_FACTOR_METHODS, Event
from ..exceptions import (
    AccountExists,
    Conflict,
    EmailUnverified,
    InvalidCredentials,
    NotFound,
    SecureAuthError,
    ServiceUnavailable,
)
from ..models import Account, Passkey, Session
from ..models.users import load_security_state, security_state
from ..social.backends import ProviderCredentials, load_backend
from ..social.flows import require_accepted_flow
from ..social.pipeline import SocialOutcome
from . import audit
from .challenges import PendingMFA, start_challenge
from .login import complete_sign_in
from .sessions import IssuedTokens, record_factor_change
from .verification import ensure_sign_in_allowed, require_verified_email

if TYPE_CHECKING:
    from ..types import UserType

logger = logging.getLogger("secureauth")

#: The audit reason of a sign-in refused because the provider does not vouch for the email.
UNVERIFIED = EmailUnverified.code

#: social_core error codes meaning the provider could not be reached at all.
UNREACHABLE = frozenset({"connection_failed", "timeout", "tls_error"})

#: Connection ids are the row's primary key: ASCII digits only ('²'.isdigit() is True).
CONNECTION_ID = re.compile(r"[0-9]{1,18}")

__all__ = [
    "ProviderCredentials",
    "connect_provider",
    "disconnect_provider",
    "list_connections",
    "sign_in_with_provider",
]


def _social_model():
    return module_member(STORAGE).user


def _backend_for(backend_name: str, credentials: ProviderCredentials):
    """The configured backend (NotFound) if it accepts this flow as sent (ValidationError
    with field errors otherwise); nothing has been sent to the provider yet."""
    backend = load_backend(backend_name, credentials)
    require_accepted_flow(backend, credentials)
    return backend


def _run(backend, credentials: ProviderCredentials, outcome: SocialOutcome, **pipeline_kwargs):
    """Exchange the code (or check the access token was issued to us) and run the
    pipeline; the user or None."""
    if credentials.access_token:
        return backend.complete_with_access_token(
            credentials.access_token, secureauth_outcome=outcome, **pipeline_kwargs
        )
    return backend.auth_complete(secureauth_outcome=outcome, **pipeline_kwargs)


def _refusal(
    backend: Any,
    error: SocialAuthBaseException,
    client: ClientInfo,
    user: UserType | None = None,
) -> SecureAuthError:
    """The provider (or the checks of its answer) refused: audit why; the error to raise
    (401, the reason only in the audit log; 503 for a misconfigured backend)."""
    detail = {
        "method": "social",
        "provider": backend.name,
        "reason": error.code,
        "stage": error.stage,
        "claim": error.claim,
        "provider_code": error.provider_code,
        "message": (error.detail or str(error))[:300],
    }
    if isinstance(error, AuthConfigurationError) or error.code in UNREACHABLE:
        logger.error("secureauth social backend %s unavailable: %s", backend.name, detail)
        return ServiceUnavailable("Sign-in with this provider is unavailable.")
    if error.claim == "email_verified":  # the backend itself refuses unverified emails
        audit.record_event(
            Event.LOGIN_FAILED, user=user, client=client, **{**detail, "reason": UNVERIFIED}
        )
        return EmailUnverified("The provider does not vouch for this email address.")
    audit.record_event(Event.LOGIN_FAILED, user=user, client=client, **detail)
    return InvalidCredentials("The provider did not accept these credentials.")


def provider_asserts_mfa(claims: dict[str, Any]) -> bool:
    """Whether the validated ID token's ``amr`` shows a second factor at the provider."""
    amr = claims.get("amr")
    return isinstance(amr, list) and bool(SECOND_FACTOR_METHODS & {str(m) for m in amr})


def sign_in_with_provider(
    backend_name: str, credentials: ProviderCredentials, client: ClientInfo
) -> IssuedTokens | PendingMFA:
    """Sign in with a provider identity (the pipeline's rules: new users only for a
    provider-verified email, else EmailUnverified; a matching account linked only when
    the email is provider-verified and the account has no usable password, else
    AccountExists). A user with a second factor gets the MFA challenge unless
    SOCIAL_TRUST_PROVIDER_MFA is on and the ID token's ``amr`` shows MFA."""
    backend = _backend_for(backend_name, credentials)
    outcome = SocialOutcome()
    try:
        user = _run(backend, credentials, outcome)
    except SocialAuthBaseException as error:
        raise _refusal(backend, error, client) from error
    except (AccountExists, EmailUnverified) as refusal:  # the pipeline's linking rules
        audit.record_event(
            Event.LOGIN_FAILED,
            client=client,
            method="social",
            provider=backend.name,
            reason=refusal.code,
        )
        raise
    if user is None or not user.is_active:
        audit.record_event(
            Event.LOGIN_FAILED,
            user=user,
            client=client,
            method="social",
            provider=backend.name,
            reason="inactive" if user else "no_user",
        )
        raise InvalidCredentials("The provider did not accept these credentials.")
    epoch = Account.objects.epoch_of(user)  # read with the MFA state it is checked under
    load_security_state(user)
    ensure_sign_in_allowed(user, client)
    social = user.social_user
    if outcome.linked_by_email:
        _audit_linked(user, social, client, by_verified_email=True)
    amr = ["fed"]
    if app_settings.SOCIAL_TRUST_PROVIDER_MFA and provider_asserts_mfa(outcome.provider_claims):
        amr.append("mfa")
    detail = {"provider": backend.name, "uid": social.uid, "new_user": outcome.new_user}
    if security_state(user).mfa_enabled and "mfa" not in amr:
        audit.record_event(Event.SOCIAL_LOGIN, user=user, client=client, mfa_pending=True, **detail)
        return start_challenge(user, client, amr=amr, credential_epoch=epoch)
    return complete_sign_in(
        user, client, amr, event=Event.SOCIAL_LOGIN, credential_epoch=epoch, **detail
    )


def connect_provider(
    user: UserType,
    backend_name: str,
    credentials: ProviderCredentials,
    client: ClientInfo,
    session: Session,
) -> Any:
    """Link a provider identity to the signed-in ``user`` (idempotent for an identity
    already theirs); EmailUnverified, before the provider is contacted, while the
    account's email is unverified; AccountExists if it belongs to another account.
    A new link is a factor change: the user's sessions but ``session`` are revoked."""
    require_verified_email(user)
    backend = _backend_for(backend_name, credentials)
    outcome = SocialOutcome()
    try:
        linked = _run(backend, credentials, outcome, user=user)
    except AuthAssociationError as error:
        audit.record_event(
            Event.LOGIN_FAILED,
            user=user,
            client=client,
            method="social_connect",
            provider=backend.name,
            reason=error.code,
        )
        raise AccountExists("This identity is already linked to another account.")
    except SocialAuthBaseException as error:
        raise _refusal(backend, error, client, user=user) from error
    if linked is None:
        raise InvalidCredentials("The provider did not accept these credentials.")
    social = linked.social_user
    if outcome.new_association:
        record_factor_change(
            Event.SOCIAL_LINKED,
            user,
            session,
            client,
            provider=social.provider,
            uid=social.uid,
            connection_id=social.pk,
        )
    return social


def _audit_linked(user: UserType, social: Any, client: ClientInfo, **detail: Any) -> None:
    audit.record_event(
        Event.SOCIAL_LINKED,
        user=user,
        client=client,
        provider=social.provider,
        uid=social.uid,
        connection_id=social.pk,
        **detail,
    )


def list_connections(user: UserType) -> list[Any]:
    """The user's linked identities, oldest first."""
    return list(_social_model().objects.filter(user=user).order_by("created", "pk"))


def _other_ways_to_sign_in(user: UserType, excluding_pk: Any) -> bool:
    return (
        user.has_usable_password()
        or Passkey.objects.of(user).exists()
        or _social_model().objects.filter(user=user).exclude(pk=excluding_pk).exists()
    )


def disconnect_provider(
    user: UserType, connection_id: str, client: ClientInfo, session: Session
) -> None:
    """Unlink one of the user's identities (NotFound for anyone else's); Conflict
    when it is the last way to sign in (no usable password, passkey or other identity).
    A factor change: the user's sessions but ``session`` are revoked."""
    if not CONNECTION_ID.fullmatch(str(connection_id)):
        raise NotFound("No such connection.")
    model = _social_model()
    with transaction.atomic():
        # Lock the user so two unlinks cannot each leave the other as the last way in.
        Account.objects.lock(user)
        current = get_user_model()._default_manager.get(pk=user.pk)  # as of the lock
        social = model.objects.filter(pk=int(connection_id), user=current).first()
        if social is None:
            raise NotFound("No such connection.")
        if not _other_ways_to_sign_in(current, social.pk):
            raise Conflict(
                "This is your last way to sign in: set a password or add a passkey first."
            )
        provider, uid = social.provider, social.uid
        social.delete()
        record_factor_change(
            Event.SOCIAL_UNLINKED,
            user,
            session,
            client,
            provider=provider,
            uid=uid,
            connection_id=int(connection_id),
        )
