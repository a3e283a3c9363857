"""Completing an OAuth 2.0 / OpenID Connect sign-in from what an API client sends.

A browser flow keeps ``state``, the OIDC ``nonce`` and the PKCE verifier in
the browser's session. A mobile app or SPA does the provider dance itself and
sends SecureAuth the result, so ``APIExchangeMixin`` takes those values from
the call instead, and leaves everything else to the configured social_core
backend: the token request, the ID token checks (signature from the issuer's
JWKS, ``iss``, ``aud``, ``exp``/``iat``, ``azp``, ``at_hash``), the UserInfo
``sub`` check, and the pipeline. Which flows a backend accepts at all is
``secureauth.social.flows``.

- ``state`` (optional): accepted once per backend; a replayed state is refused.
- ``nonce`` (required by OpenID Connect backends): the ID token must carry exactly
  it, and it is accepted once; an ID token without a nonce is refused.
- ``code_verifier`` (required with ``code``): passed to the token request; the
  provider checks it against the challenge of the authorization request.
- ``redirect_uri``: sent verbatim to the token request; the provider checks it
  against the one the code was issued for.
- ``access_token`` alone is accepted only once the provider has confirmed it was
  issued to this application (``complete_with_access_token``): for OpenID Connect
  by the ``id_token`` issued with it, validated exactly as in the code flow and
  required to carry ``at_hash`` (which binds it to this access token); for Google
  and GitHub by their token-check APIs (``secureauth.social.audience``).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from django.db import IntegrityError, transaction
from social_core.backends.oauth import BaseOAuth2
from social_core.backends.open_id_connect import OpenIdConnectAuth
from social_core.exceptions import (
    AuthConfigurationError,
    AuthPolicyError,
    AuthResponseError,
    AuthSessionError,
)
from social_core.utils import constant_time_compare

from ..exceptions import NotFound
from .audience import access_token_check, is_openid_connect
from .strategy import APIStrategy

if TYPE_CHECKING:
    from social_django.models import Nonce

    # The mixin only ever goes in front of a BaseOAuth2 subclass (api_backend_class).
    _Backend = BaseOAuth2[Any]
else:
    _Backend = object


@dataclass(frozen=True)
class ProviderCredentials:
    """What the client obtained from the provider: an access token, or a code to exchange."""

    access_token: str = ""
    code: str = ""
    redirect_uri: str = ""
    code_verifier: str = ""
    state: str = ""
    nonce: str = ""
    id_token: str = ""


def claim_once(backend: BaseOAuth2[Any], kind: str, value: str) -> bool:
    """Record ``value`` as used for ``backend``; False if it was used before.

    Stored in social_django's Nonce table (shared by every process), keyed by
    a digest of the value so any length fits."""
    # APIStrategy is social_django's: its storage keeps nonces in a Django model.
    nonce_model = cast("type[Nonce]", backend.strategy.storage.nonce)
    server_url = f"secureauth:{backend.name}:{kind}"
    digest = hashlib.sha256(value.encode()).hexdigest()
    if nonce_model.objects.filter(server_url=server_url, salt=digest).exists():
        return False
    try:
        with transaction.atomic():
            return bool(nonce_model.use(server_url, int(time.time()), digest))
    except IntegrityError:
        return False


class APIExchangeMixin(_Backend):
    """Takes state, nonce, PKCE verifier and redirect URI from the API call."""

    credentials: ProviderCredentials

    def get_redirect_uri(self, state: str | None = None) -> str:
        return self.credentials.redirect_uri

    def validate_state(self) -> str | None:
        state = self.credentials.state
        if state and not claim_once(self, "state", state):
            raise AuthSessionError(self, "state replayed", code="state_mismatch", stage="callback")
        # What social_core's nonce check and PKCE step read in a browser flow (both are
        # overridden here; kept for backends that read it themselves).
        self._oauth2_transaction = {"state": state, "oidc_nonce": self.credentials.nonce}
        return state or None

    def auth_complete_params(self, state=None):
        # BaseOAuth2's parameters (code, redirect_uri, client credentials), then
        # the caller's verifier instead of one kept in a browser session.
        params = BaseOAuth2.auth_complete_params(self, state)
        if self.credentials.code_verifier:
            params["code_verifier"] = self.credentials.code_verifier
        return params

    def validate_claims(self, id_token) -> None:
        """OpenID Connect only: the ID token's time claims, then the nonce: the caller
        sent one, the ID token carries exactly it, and it was not used before."""
        # Only OpenID Connect backends validate ID tokens.
        cast(OpenIdConnectAuth[Any], self).validate_temporal_claims(id_token)
        expected, received = self.credentials.nonce, id_token.get("nonce")
        if not (
            expected
            and isinstance(received, str)
            and constant_time_compare(received, expected)
            and claim_once(self, "nonce", expected)
        ):
            raise AuthResponseError(
                self, "Incorrect id_token: nonce", code="nonce_mismatch", stage="token_validation"
            )

    def complete_with_access_token(self, access_token: str, *args, **kwargs):
        """The access-token flow: prove the token was issued to this application, then
        read the user with it and run the pipeline (``do_auth``)."""
        if is_openid_connect(self):
            self.id_token = self.id_token_vouching_for(access_token)
        else:
            check = access_token_check(self)
            if check is None:  # flows.require_accepted_flow refuses these before
                raise AuthPolicyError(self, code="code_flow_only", stage="token_validation")
            check(self, access_token)
        return self.do_auth(access_token, *args, **kwargs)

    def id_token_vouching_for(self, access_token: str) -> dict:
        """The caller's ID token, validated as in the code flow (signature, ``iss``,
        ``aud`` = our client, ``azp``, times, nonce), and carrying the ``at_hash`` of
        ``access_token``: an ID token without it does not vouch for any access token."""
        if not self.credentials.id_token:
            raise AuthResponseError(
                self, code="missing_claim", claim="id_token", stage="token_validation"
            )
        oidc = cast(OpenIdConnectAuth[Any], self)  # only called for OpenID Connect backends
        claims = oidc.validate_and_return_id_token(self.credentials.id_token, access_token)
        if not isinstance(claims.get("at_hash"), str):
            raise AuthResponseError(
                self,
                "Incorrect id_token: no at_hash",
                code="missing_claim",
                claim="at_hash",
                stage="token_validation",
            )
        return claims

    def run_authentication(self, *args, **kwargs):
        # The pipeline's writes (user, identity, verified email) commit together.
        with transaction.atomic():
            return super().run_authentication(*args, **kwargs)


@lru_cache(maxsize=64)
def api_backend_class(backend_class: type[BaseOAuth2[Any]]) -> type[APIExchangeMixin]:
    """The configured backend class with APIExchangeMixin in front (same ``name``)."""
    return type(f"API{backend_class.__name__}", (APIExchangeMixin, backend_class), {})


def load_backend(name: str, credentials: ProviderCredentials) -> APIExchangeMixin:
    """An API-ready instance of the configured OAuth 2.0 backend ``name``, or NotFound."""
    strategy = APIStrategy({"code": credentials.code, "state": credentials.state})
    try:
        backend_class = strategy.get_backend_class(name)
    except AuthConfigurationError:
        raise NotFound("No such provider.")
    if not issubclass(backend_class, BaseOAuth2) or backend_class.ASSOCIATION_ONLY:
        raise NotFound("No such provider.")
    # A class is hashable; mypy does not see a type[...] as Hashable (python/mypy#11470).
    api_class = api_backend_class(backend_class)  # type: ignore[arg-type]
    backend = api_class(strategy, redirect_uri=credentials.redirect_uri)
    backend.credentials = credentials
    return backend
