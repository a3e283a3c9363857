"""Completing an OAuth 2.0 / OpenID Connect sign-in from what an API client sends.

A browser flow keeps ``state``, the OIDC ``nonce`` and the PKCE verifier in
the browser's session. A mobile app or SPA does the provider dance itself and
sends SecureAuth the result, so ``APIExchangeMixin`` takes those values from
the call instead, and leaves everything else to the configured social_core
backend: the token request, the ID token checks (signature from the issuer's
JWKS, ``iss``, ``aud``, ``exp``/``iat``, ``azp``, ``at_hash``), the UserInfo
``sub`` check, and the pipeline.

- ``state`` (optional): accepted once per backend; a replayed state is refused.
- ``nonce`` (optional): when sent, the ID token must carry exactly it (and it
  is accepted once); an ID token carrying a nonce the caller did not send is
  refused as well.
- ``code_verifier`` (optional): passed to the token request; the provider
  checks it against the challenge of the authorization request.
- ``redirect_uri``: sent verbatim to the token request; the provider checks it
  against the one the code was issued for.
- ``id_token`` (access-token flow, OpenID Connect backends): social_core only
  trusts UserInfo whose ``sub`` matches a validated ID token, so a client that
  sends its access token sends the ID token it received with it; that token is
  validated exactly as in the code flow (signature, ``iss``, ``aud`` = our
  client, ``at_hash`` binding it to the access token, ``nonce``).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from functools import lru_cache

from django.db import IntegrityError, transaction
from social_core.backends.oauth import BaseOAuth2
from social_core.exceptions import AuthConfigurationError, AuthResponseError, AuthSessionError
from social_core.utils import constant_time_compare

from ..exceptions import NotFound
from .strategy import APIStrategy


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


def claim_once(backend, kind: str, value: str) -> bool:
    """Record ``value`` as used for ``backend``; False if it was used before.

    Stored in social_django's Nonce table (shared by every process), keyed by
    a digest of the value so any length fits."""
    nonce_model = backend.strategy.storage.nonce
    server_url = f"secureauth:{backend.name}:{kind}"
    digest = hashlib.sha256(value.encode()).hexdigest()
    if nonce_model.objects.filter(server_url=server_url, salt=digest).exists():
        return False
    try:
        with transaction.atomic():
            return bool(nonce_model.use(server_url, int(time.time()), digest))
    except IntegrityError:
        return False


class APIExchangeMixin:
    """Takes state, nonce, PKCE verifier and redirect URI from the API call."""

    credentials: ProviderCredentials

    def get_redirect_uri(self, state=None) -> str:
        return self.credentials.redirect_uri

    def validate_state(self):
        state = self.credentials.state
        if state and not claim_once(self, "state", state):
            raise AuthSessionError(self, "state replayed", code="state_mismatch", stage="callback")
        # What the OIDC nonce check and the PKCE step read in a browser flow.
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
        """OpenID Connect only: the ID token's time claims, then the caller's nonce."""
        self.validate_temporal_claims(id_token)
        expected, received = self.credentials.nonce, id_token.get("nonce")
        if not expected and received is None:
            return
        if not (
            expected
            and isinstance(received, str)
            and constant_time_compare(received, expected)
            and claim_once(self, "nonce", expected)
        ):
            raise AuthResponseError(
                self, "Incorrect id_token: nonce", code="nonce_mismatch", stage="token_validation"
            )

    def do_auth(self, access_token, *args, **kwargs):
        received = self.credentials.id_token
        if received and self.id_token is None and hasattr(self, "validate_and_return_id_token"):
            self._oauth2_transaction = {"state": "", "oidc_nonce": self.credentials.nonce}
            self.id_token = self.validate_and_return_id_token(received, access_token)
        return super().do_auth(access_token, *args, **kwargs)

    def run_authentication(self, *args, **kwargs):
        # The pipeline's writes (user, identity, verified email) commit together.
        with transaction.atomic():
            return super().run_authentication(*args, **kwargs)


@lru_cache(maxsize=64)
def api_backend_class(backend_class: type) -> type:
    """The configured backend class with APIExchangeMixin in front (same ``name``)."""
    return type(f"API{backend_class.__name__}", (APIExchangeMixin, backend_class), {})


def load_backend(name: str, credentials: ProviderCredentials):
    """An API-ready instance of the configured OAuth 2.0 backend ``name``, or NotFound."""
    strategy = APIStrategy({"code": credentials.code, "state": credentials.state})
    try:
        backend_class = strategy.get_backend_class(name)
    except AuthConfigurationError:
        raise NotFound("No such provider.")
    if not issubclass(backend_class, BaseOAuth2) or backend_class.ASSOCIATION_ONLY:
        raise NotFound("No such provider.")
    backend = api_backend_class(backend_class)(strategy, redirect_uri=credentials.redirect_uri)
    backend.credentials = credentials
    return backend
