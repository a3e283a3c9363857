"""Refresh-token generation, hashing at rest and child derivation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from django.conf import settings

from .conf import app_settings

TOKEN_BYTES = 32  # 256 bits of entropy


def new_refresh_token() -> str:
    """A fresh random refresh token: 256 bits, URL-safe, no padding."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """SHA-256 hex digest; only this is stored (the token itself has 256 bits of entropy)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_digest(token: str) -> bytes:
    """SHA-256 of a refresh token, the 32 raw bytes stored and looked up (one index
    of 32-byte keys, half the size of the hex spelling)."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def _hmac_key() -> bytes:
    key = app_settings.REFRESH_TOKEN_HMAC_KEY
    if key:
        return key.encode() if isinstance(key, str) else key
    # Domain-separated from every other use of SECRET_KEY.
    return hashlib.sha256(b"secureauth.refresh-child:" + settings.SECRET_KEY.encode()).digest()


def keyed_digest(purpose: str, value: str) -> bytes:
    """HMAC-SHA256 of ``value`` under the server key, separated by ``purpose``."""
    message = f"secureauth.{purpose}:".encode() + value.encode("utf-8")
    return hmac.new(_hmac_key(), message, hashlib.sha256).digest()


def recovery_code_digest(code: str) -> str:
    """What is stored for a recovery code: a keyed hash, 16 hex characters (it must fit
    django-otp's StaticToken.token). The plaintext is shown once and never stored."""
    return keyed_digest("recovery-code", code).hex()[:16]


def new_child_salt() -> bytes:
    """The random value stored with a refresh token and mixed into its child."""
    return secrets.token_bytes(16)


def derive_child_token(parent: str, salt: bytes | memoryview = b"") -> str:
    """The child of ``parent``: HMAC(server key, salt || parent).

    Deterministic, so a retry inside the grace window gets the same child without
    the child ever being stored in clear; the per-token ``salt`` lives only in the
    database, so the key and an old token are not enough to compute the current one.
    (An empty salt is the derivation of tokens issued before salts existed; a
    BinaryField reads back as memoryview on PostgreSQL.)
    """
    digest = hmac.new(_hmac_key(), bytes(salt) + parent.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def looks_like_refresh_token(value: str) -> bool:
    """Cheap shape check before touching the database."""
    return 16 <= len(value) <= 128 and all(c.isalnum() or c in "-_" for c in value)
