"""Which sign-in flows a backend accepts, decided before the provider is contacted.

- **Authorization code** (every backend): ``code``, ``redirect_uri`` and the PKCE
  ``code_verifier`` (required by the request serializer). OpenID Connect backends
  also need the ``nonce`` the client sent to /authorize: the ID token must carry it.
- **Access token**: only where the server can check that the token was issued to
  this application (``secureauth.social.audience``): OpenID Connect backends with
  the ``id_token`` issued with it (and the ``nonce`` of that sign-in); Google and
  GitHub through their token-check APIs. Every other backend offers only the code flow.

A refusal is Django's ``ValidationError`` with one message list per field, which
the view reports as the usual 400 field errors.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from social_core.backends.oauth import BaseOAuth2

from .audience import access_token_check, is_openid_connect
from .backends import ProviderCredentials

REQUIRED = "This field is required."
CODE_FLOW_ONLY = "This provider only accepts the authorization code flow."


def flow_errors(backend: BaseOAuth2, credentials: ProviderCredentials) -> dict[str, list[str]]:
    """The field errors of ``credentials`` for ``backend``; empty when it accepts them."""
    oidc = is_openid_connect(backend)
    if credentials.access_token and not oidc and access_token_check(backend) is None:
        return {"access_token": [CODE_FLOW_ONLY]}
    errors: dict[str, list[str]] = {}
    if credentials.access_token and oidc and not credentials.id_token:
        errors["id_token"] = [REQUIRED]
    if oidc and not credentials.nonce:
        errors["nonce"] = [REQUIRED]
    return errors


def require_accepted_flow(backend: BaseOAuth2, credentials: ProviderCredentials) -> None:
    """ValidationError (field errors) unless ``backend`` accepts this flow as sent."""
    errors = flow_errors(backend, credentials)
    if errors:
        raise ValidationError(errors)
