"""Access tokens: JWT signing and verification, the key set, JWKS.

Keys are wrapped in simplejwt's ``TokenBackend`` (key preparation, algorithm
checks, iss/aud/exp verification); this module adds what it lacks: a ``kid``
header, several verification keys for rotation, required claims and JWKS.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import jwt
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from jwt.algorithms import get_default_algorithms
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError

from .conf import app_settings
from .exceptions import TokenExpired, TokenInvalid

REQUIRED_CLAIMS = (
    "iss",
    "aud",
    "sub",
    "sid",
    "jti",
    "iat",
    "exp",
    "roles",
    "amr",
    "auth_time",
    "token_type",
)
#: Claims SecureAuth sets itself: the adapter's ``access_token_claims`` cannot replace them.
RESERVED_CLAIMS = frozenset(REQUIRED_CLAIMS) | {"nbf", "cnf"}
ASYMMETRIC_PREFIXES = ("RS", "ES", "PS", "Ed")


@dataclass(frozen=True)
class Key:
    kid: str
    algorithm: str
    backend: TokenBackend
    public_pem: str | None  # None for HMAC keys

    @property
    def is_asymmetric(self) -> bool:
        return self.public_pem is not None

    def jwk(self) -> dict[str, Any]:
        assert self.public_pem is not None, "an HMAC key has no public JWK"
        alg = get_default_algorithms()[self.algorithm]
        public_key = serialization.load_pem_public_key(self.public_pem.encode())
        data = json.loads(alg.to_jwk(public_key))
        data.update({"kid": self.kid, "alg": self.algorithm, "use": "sig"})
        return data


def _is_asymmetric(algorithm: str) -> bool:
    return algorithm.startswith(ASYMMETRIC_PREFIXES)


def _public_pem_of(private_or_public_pem: str) -> str:
    data = private_or_public_pem.encode()
    if b"PRIVATE KEY" in data:
        key = serialization.load_pem_private_key(data, password=None).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _derive_kid(material: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest()[:12]).decode()


def _make_key(algorithm: str, key: str, kid: str | None, *, signing: bool) -> Key:
    audience, issuer = app_settings.AUDIENCE, app_settings.ISSUER
    leeway = app_settings.LEEWAY_SECONDS
    try:
        if _is_asymmetric(algorithm):
            public_pem = _public_pem_of(key)
            backend = TokenBackend(
                algorithm,
                signing_key=key if signing else None,
                verifying_key=public_pem,
                audience=audience,
                issuer=issuer,
                leeway=leeway,
            )
            return Key(kid or _derive_kid(public_pem), algorithm, backend, public_pem)
        backend = TokenBackend(
            algorithm, signing_key=key, audience=audience, issuer=issuer, leeway=leeway
        )
        return Key(kid or _derive_kid("hmac:" + _derive_kid(key)), algorithm, backend, None)
    except (TokenBackendError, ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"SecureAuth: unusable {algorithm} key: {exc}") from exc


@dataclass(frozen=True)
class KeySet:
    signing: Key
    by_kid: dict[str, Key]


def _signing_key_material() -> str:
    if app_settings.SIGNING_KEY_FILE:
        return Path(app_settings.SIGNING_KEY_FILE).read_text()
    if app_settings.SIGNING_KEY:
        return app_settings.SIGNING_KEY
    if _is_asymmetric(app_settings.ALGORITHM):
        raise ImproperlyConfigured(
            "SecureAuth: SIGNING_KEY or SIGNING_KEY_FILE must hold a PEM private key "
            f"for {app_settings.ALGORITHM}."
        )
    return settings.SECRET_KEY


def _build_keyset() -> KeySet:
    signing = _make_key(
        app_settings.ALGORITHM, _signing_key_material(), app_settings.KEY_ID, signing=True
    )
    by_kid = {signing.kid: signing}
    for entry in app_settings.VERIFYING_KEYS:
        key = _make_key(
            entry.get("algorithm", app_settings.ALGORITHM),
            entry["key"],
            entry.get("kid"),
            signing=False,
        )
        by_kid.setdefault(key.kid, key)
    return KeySet(signing=signing, by_kid=by_kid)


def keyset() -> KeySet:
    return app_settings.memo("keyset", _build_keyset)


def encode_access_token(
    *,
    user_id: str,
    session_id: str,
    roles: list[str],
    amr: list[str],
    auth_time: datetime,
    extra_claims: dict[str, Any] | None = None,
    now: datetime | None = None,
    dpop_jkt: str | None = None,
) -> tuple[str, int]:
    """Sign an access token for a session; returns (token, lifetime in seconds). With
    ``dpop_jkt`` the token is bound to that DPoP key (``cnf.jkt``, RFC 9449 §6)."""
    now = now or timezone.now()
    lifetime = int(app_settings.ACCESS_TOKEN_LIFETIME.total_seconds())
    iat = int(now.timestamp())
    extra = {k: v for k, v in (extra_claims or {}).items() if k not in RESERVED_CLAIMS}
    payload = {
        **extra,
        "iss": app_settings.ISSUER,
        "aud": app_settings.AUDIENCE,
        "sub": user_id,
        "sid": session_id,
        "jti": uuid.uuid4().hex,
        "iat": iat,
        "exp": iat + lifetime,
        "roles": roles,
        "amr": amr,
        "auth_time": int(auth_time.timestamp()),
        "token_type": "access",
    }
    if dpop_jkt:
        payload["cnf"] = {"jkt": dpop_jkt}
    key = keyset().signing
    token = jwt.encode(
        payload,
        key.backend.prepared_signing_key,
        algorithm=key.algorithm,
        headers={"kid": key.kid},
    )
    return token, lifetime


def _candidate_key(token: str) -> Key:
    """The key a token claims to be signed with. With a single key there is no need
    to parse the header twice: its ``kid`` is checked after verification."""
    keys = keyset()
    if len(keys.by_kid) == 1:
        return keys.signing
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError:
        raise TokenInvalid("Token is malformed.")
    key = keys.by_kid.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise TokenInvalid("Token was not signed by a known key.")
    return key


def decode_access_token(token: str) -> dict[str, Any]:
    """Verify signature, algorithm, kid, iss, aud, exp and required claims.

    Raises ``TokenExpired`` or ``TokenInvalid``. Says nothing about the session:
    the authentication class checks that.
    """
    key = _candidate_key(token)
    backend = key.backend
    try:
        decoded = jwt.decode_complete(
            token,
            # Annotated as simplejwt's Token class, but it is handed the encoded JWT
            # (as simplejwt's own decode() does) for its JWKS client.
            backend.get_verifying_key(cast(Any, token)),
            algorithms=[key.algorithm],  # never "none", never another family
            audience=backend.audience,
            issuer=backend.issuer,
            leeway=backend.get_leeway(),
            options={"require": ["exp", "iat"], "verify_aud": backend.audience is not None},
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired("Access token has expired.")
    except jwt.InvalidTokenError:
        raise TokenInvalid()
    if decoded["header"].get("kid") != key.kid:
        raise TokenInvalid("Token was not signed by a known key.")
    claims = decoded["payload"]
    if any(claim not in claims for claim in REQUIRED_CLAIMS) or claims["token_type"] != "access":
        raise TokenInvalid("Token is missing required claims.")
    if not isinstance(claims["sid"], str) or not isinstance(claims["sub"], str):
        raise TokenInvalid()
    return claims


def jwks() -> dict[str, list[dict[str, Any]]]:
    """Public keys of every asymmetric key in the set; empty for HMAC."""
    return {"keys": [key.jwk() for key in keyset().by_kid.values() if key.is_asymmetric]}
