"""Google- and GitHub-shaped APIs of the test provider, for the backends whose bare
access tokens SecureAuth checks with the vendor (``secureauth.social.audience``).

The tokens are the provider's own access tokens (``OIDCProvider.access_token_for``);
each remembers the client it was issued to, as the real vendors do.

- ``GET  /google/tokeninfo?access_token=``: Google's tokeninfo (``aud``, ``azp``,
  ``sub``, ``exp``, ``expires_in``, ``scope``, ``email``, ``email_verified`` as
  strings); 400 ``invalid_token`` for an unknown or expired token.
- ``GET  /google/userinfo``: Google's UserInfo (v3) for ``Authorization: Bearer``.
- ``GET  /github/user``, ``GET /github/user/emails``: GitHub's user and its emails
  for ``Authorization: token``; 401 otherwise.
- ``POST /github/applications/<client_id>/token``: GitHub's "check a token": HTTP
  Basic with that client's id and secret (401 otherwise), JSON ``{"access_token"}``
  (422 without it); 200 with ``app.client_id`` for a token issued to that client,
  404 for any other token.

``provider.answer_overrides["tokeninfo"]`` / ``["github_check"]`` are merged into
the 200 answers, to play a vendor that answers something unexpected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import time

PREFIXES = ("/google/", "/github/")
GITHUB_CHECK = re.compile(r"/github/applications/(?P<client_id>[^/]+)/token")


def serves(path: str) -> bool:
    return path.startswith(PREFIXES)


def answer(provider, method: str, path: str, data, headers) -> tuple[int, object]:
    """(status, JSON body) for one vendor API call."""
    authorization = headers.get("Authorization", "")
    if method == "GET" and path == "/google/tokeninfo":
        return google_tokeninfo(provider, str(data.get("access_token", "")))
    if method == "GET" and path == "/google/userinfo":
        return google_userinfo(provider, _credential(authorization, "Bearer"))
    if method == "GET" and path in ("/github/user", "/github/user/emails"):
        return github_user(provider, _credential(authorization, "token"), path.endswith("emails"))
    check = GITHUB_CHECK.fullmatch(path)
    if method == "POST" and check:
        return github_check_token(provider, check["client_id"], authorization, data)
    return 404, {"message": "Not Found"}


def _credential(authorization: str, scheme: str) -> str:
    prefix = scheme + " "
    return authorization[len(prefix) :] if authorization.startswith(prefix) else ""


def google_tokeninfo(provider, access_token: str) -> tuple[int, object]:
    grant = provider.grant_of(access_token)
    if grant is None:
        return 400, {"error": "invalid_token", "error_description": "Invalid Value"}
    user = grant["user"]
    body = {
        "azp": grant["client_id"],
        "aud": grant["client_id"],
        "sub": user.sub,
        "scope": "openid https://www.googleapis.com/auth/userinfo.email",
        "exp": str(int(grant["expires"])),
        "expires_in": str(max(0, int(grant["expires"] - time.time()))),
        "email": user.email,
        "email_verified": "true" if user.email_verified else "false",
        "access_type": "online",
    }
    return 200, {**body, **provider.answer_overrides.get("tokeninfo", {})}


def google_userinfo(provider, access_token: str) -> tuple[int, object]:
    grant = provider.grant_of(access_token)
    if grant is None:
        return 401, {"error": "invalid_token"}
    user = grant["user"]
    info = {"sub": user.sub, "name": user.name, "email_verified": user.email_verified}
    if user.email:
        info["email"] = user.email
    return 200, info


def github_user(provider, access_token: str, emails: bool) -> tuple[int, object]:
    grant = provider.grant_of(access_token)
    if grant is None:
        return 401, {"message": "Bad credentials"}
    user = grant["user"]
    if emails:
        if user.emails is not None:
            return 200, user.emails
        primary = {"email": user.email, "primary": True, "verified": user.email_verified}
        return 200, [primary] if user.email else []
    return 200, {"login": user.login, "id": user.github_id, "name": user.name, "email": None}


def github_check_token(provider, client_id: str, authorization: str, data) -> tuple[int, object]:
    client = provider.clients.get(client_id)
    try:
        given_id, _, secret = (
            base64.b64decode(_credential(authorization, "Basic")).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        given_id, secret = "", ""
    if client is None or given_id != client_id or not secrets.compare_digest(client.secret, secret):
        return 401, {"message": "Requires authentication"}
    token = data.get("access_token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        return 422, {"message": "Validation Failed"}
    grant = provider.grant_of(token)
    if grant is None or grant["client_id"] != client_id:
        return 404, {"message": "Not Found"}
    user = grant["user"]
    body = {
        "id": 1,
        "token": token,
        "hashed_token": hashlib.sha256(token.encode()).hexdigest(),
        "token_last_eight": token[-8:],
        "app": {"client_id": client_id, "name": client_id, "url": "http://localhost"},
        "user": {"login": user.login, "id": user.github_id},
        "scopes": ["user:email"],
    }
    return 200, {**body, **provider.answer_overrides.get("github_check", {})}
