"""A DPoP client key for tests: it signs proofs (RFC 9449 §4.2), well-formed or not."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

from secureauth.dpop import jwk_thumbprint

ABSENT = object()


def private_key_for(alg: str, *, rsa_bits: int = 2048) -> Any:
    if alg.startswith("ES"):
        curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
        return ec.generate_private_key(curve[alg])
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)


def ath_of(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class DPoPKey:
    """One client key pair and the proofs it signs."""

    def __init__(self, alg: str = "ES256", *, rsa_bits: int = 2048) -> None:
        self.alg = alg
        self.private_key = private_key_for(alg, rsa_bits=rsa_bits)
        algorithm = get_default_algorithms()[alg]
        self.public_jwk: dict[str, Any] = algorithm.to_jwk(
            self.private_key.public_key(), as_dict=True
        )
        self.private_jwk: dict[str, Any] = algorithm.to_jwk(self.private_key, as_dict=True)

    @property
    def jkt(self) -> str:
        return jwk_thumbprint(self.public_jwk)

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
        iat: Any = ABSENT,
        jti: Any = ABSENT,
        typ: Any = "dpop+jwt",
        alg: str | None = None,
        jwk: Any = ABSENT,
        signing_key: Any = None,
        **claims: Any,
    ) -> str:
        """A proof for ``method url``; any header or claim can be replaced (``ABSENT``
        keeps the right one, ``None`` for a claim leaves it out)."""
        payload: dict[str, Any] = {
            "jti": uuid.uuid4().hex if jti is ABSENT else jti,
            "htm": method,
            "htu": url,
            "iat": int(time.time()) if iat is ABSENT else iat,
        }
        if access_token is not None:
            payload["ath"] = ath_of(access_token)
        if nonce is not None:
            payload["nonce"] = nonce
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        headers = {"typ": typ, "jwk": self.public_jwk if jwk is ABSENT else jwk}
        if headers["jwk"] is None:
            del headers["jwk"]
        return jwt.encode(
            payload,
            signing_key or self.private_key,
            algorithm=alg or self.alg,
            headers=headers,
        )
