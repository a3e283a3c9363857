"""Proving that a provider access token sent on its own was issued to this application.

An access token is a bearer credential for the provider's API, and every app the
user ever signed in to holds one for them. Reading a profile with it proves only
that the token is valid, not that it was issued to us: a token the user gave any
other app would sign that app's operator in as the user. So a bare access token is
accepted only where the provider can tell us which client it was issued to:

- **Google**: the tokeninfo endpoint answers the token's ``aud`` / ``azp`` (the
  client id it was issued to) and ``exp``; one of them must be our client id
  (``SOCIAL_AUTH_<BACKEND>_KEY``) and the token unexpired.
- **GitHub**: the "check a token" API (``POST /applications/{client_id}/token``,
  authenticated with our client id and secret) answers 200 only for a token of our
  OAuth app, and names the app (``app.client_id``), which must be ours.
- **OpenID Connect** backends have no such API: the ID token issued with the access
  token vouches for it (``aud`` is our client, ``at_hash`` binds this token); that
  check lives in ``secureauth.social.backends.APIExchangeMixin``.

Every other backend has no check and accepts only the authorization code flow
(``secureauth.social.flows``). The endpoints are social-auth settings of the
backend, so a test or a GitHub Enterprise install can point them elsewhere:
``SOCIAL_AUTH_<BACKEND>_TOKENINFO_URL`` (Google) and
``SOCIAL_AUTH_<BACKEND>_TOKEN_CHECK_URL`` (GitHub; ``{client_id}`` is filled in,
the default is the backend's API URL + ``applications/{client_id}/token``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urljoin

from social_core.backends.github import GithubOAuth2
from social_core.backends.google import GoogleOAuth2
from social_core.backends.oauth import BaseOAuth2
from social_core.backends.open_id_connect import OpenIdConnectAuth
from social_core.exceptions import (
    AuthConfigurationError,
    AuthCredentialError,
    AuthResponseError,
    SocialAuthBaseException,
)

GOOGLE_TOKENINFO_URL = "https://oauth2.googleapis.com/tokeninfo"
GITHUB_TOKEN_CHECK_PATH = "applications/{client_id}/token"

#: Audit reasons: the provider names another client for the token / does not know it for us.
AUDIENCE_MISMATCH = "audience_mismatch"
CREDENTIAL_REJECTED = "credential_rejected"

AccessTokenCheck = Callable[[Any, str], None]


def is_openid_connect(backend: BaseOAuth2) -> bool:
    """Whether the backend validates ID tokens (then the ID token vouches for a token)."""
    return isinstance(backend, OpenIdConnectAuth)


def access_token_check(backend: BaseOAuth2) -> AccessTokenCheck | None:
    """The provider API that proves a bare access token is ours, or None when there is none."""
    if is_openid_connect(backend):
        return None
    if isinstance(backend, GithubOAuth2):
        return check_github_token
    if isinstance(backend, GoogleOAuth2):
        return check_google_token
    return None


def _client_credentials(backend) -> tuple[str, str]:
    client_id, secret = backend.get_key_and_secret()
    if not client_id:
        raise AuthConfigurationError(
            backend, code="missing_setting", parameter="KEY", stage="token_validation"
        )
    return str(client_id), str(secret or "")


def _not_ours(
    backend, message: str, code: str = AUDIENCE_MISMATCH, **fields
) -> AuthCredentialError:
    return AuthCredentialError(backend, message, code=code, stage="token_validation", **fields)


def _ask(
    backend,
    url: str,
    *,
    rejected: frozenset[int],
    refused_us: frozenset[int] = frozenset(),
    **request,
) -> Any:
    """``backend.get_json`` at the token-validation stage. A status in ``rejected`` means
    the provider does not know the token for our client (401 for the caller); one in
    ``refused_us`` means it refused our own client credentials (a configuration error)."""
    try:
        return backend.get_json(url, stage="token_validation", **request)
    except SocialAuthBaseException as error:
        if error.status_code in rejected:
            raise _not_ours(
                backend,
                "The provider does not know this token for our client.",
                code=CREDENTIAL_REJECTED,
                status_code=error.status_code,
            ) from error
        if error.status_code in refused_us:
            raise AuthConfigurationError(
                backend, code="invalid_setting", parameter="SECRET", stage="token_validation"
            ) from error
        raise


def check_google_token(backend, access_token: str) -> None:
    """Google's tokeninfo: ``aud`` or ``azp`` must be our client id, ``exp`` in the future."""
    client_id, _ = _client_credentials(backend)
    url = backend.setting("TOKENINFO_URL") or GOOGLE_TOKENINFO_URL
    info = _ask(
        backend, url, rejected=frozenset({400, 401, 404}), params={"access_token": access_token}
    )
    if not isinstance(info, dict):
        raise AuthResponseError(backend, code="malformed_response", stage="token_validation")
    if client_id not in (info.get("aud"), info.get("azp")):
        raise _not_ours(backend, "Google issued this token to another client.", claim="aud")
    if not _unexpired(info):
        raise AuthCredentialError(
            backend,
            "Google says the token expired.",
            code="response_expired",
            claim="exp",
            stage="token_validation",
        )


def _unexpired(info: dict) -> bool:
    """tokeninfo's ``exp`` (epoch seconds) or, without it, ``expires_in``; as strings."""
    try:
        if info.get("exp") is not None:
            return int(str(info["exp"])) > time.time()
        return int(str(info["expires_in"])) > 0
    except (KeyError, TypeError, ValueError):
        return False


def check_github_token(backend, access_token: str) -> None:
    """GitHub's "check a token": 200 naming our app for our tokens, 404/422 otherwise."""
    client_id, secret = _client_credentials(backend)
    template = backend.setting("TOKEN_CHECK_URL") or urljoin(
        backend.api_url(), GITHUB_TOKEN_CHECK_PATH
    )
    url = template.replace("{client_id}", quote(client_id, safe=""))
    answer = _ask(
        backend,
        url,
        rejected=frozenset({404, 422}),
        refused_us=frozenset({401}),
        method="POST",
        json={"access_token": access_token},
        auth=(client_id, secret),
        headers={"Accept": "application/vnd.github+json"},
    )
    app = answer.get("app") if isinstance(answer, dict) else None
    if not isinstance(app, dict) or app.get("client_id") != client_id:
        raise _not_ours(backend, "GitHub names another app for this token.", claim="app")
