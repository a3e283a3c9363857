"""A software WebAuthn authenticator (plus the browser's part) for tests.

It really does the cryptography: an ES256 (EC P-256) key per credential,
``none`` attestation objects, authenticator data with rpIdHash, flags and
signature counter, client data JSON, and assertions signed over
``authenticatorData || SHA-256(clientDataJSON)``. Its output is what a
browser's ``PublicKeyCredential.toJSON()`` gives, so the server's verification
(the ``webauthn`` package) runs unmocked.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import struct
from dataclasses import dataclass

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

ORIGIN = "http://localhost:3000"
RP_ID = "localhost"

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


class ExcludedCredential(Exception):
    """The browser's InvalidStateError: this authenticator holds an excluded credential."""


class NoCredential(Exception):
    """The browser's NotAllowedError: no credential on this authenticator matches."""


@dataclass
class Credential:
    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


class SoftwareAuthenticator:
    """One authenticator holding discoverable ES256 credentials.

    ``backup_eligible``/``backed_up`` set the BE/BS flags (a synced passkey);
    ``user_verified`` sets UV; ``counter_step`` is how much the signature
    counter grows per use (0: an authenticator that keeps no counter)."""

    def __init__(
        self,
        *,
        backup_eligible: bool = False,
        backed_up: bool = False,
        user_verified: bool = True,
        counter_step: int = 1,
        transports: tuple[str, ...] = ("internal", "hybrid"),
    ) -> None:
        self.backup_eligible = backup_eligible
        self.backed_up = backed_up
        self.user_verified = user_verified
        self.counter_step = counter_step
        self.transports = list(transports)
        self.aaguid = os.urandom(16)
        self.credentials: dict[bytes, Credential] = {}

    def _flags(self, attested: bool) -> int:
        flags = UP
        if self.user_verified:
            flags |= UV
        if self.backup_eligible:
            flags |= BE
        if self.backed_up:
            flags |= BS
        if attested:
            flags |= AT
        return flags

    def _auth_data(self, rp_id: str, flags: int, sign_count: int, attested: bytes = b"") -> bytes:
        rp_id_hash = hashlib.sha256(rp_id.encode("utf-8")).digest()
        return rp_id_hash + bytes([flags]) + struct.pack(">I", sign_count) + attested

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        body = {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
        return json.dumps(body, separators=(",", ":")).encode("utf-8")

    def create(
        self,
        options: dict,
        *,
        origin: str = ORIGIN,
        rp_id: str | None = None,
        challenge: str | None = None,
        reattest: bytes | None = None,
    ) -> dict:
        """navigator.credentials.create(): a new credential's attestation, as toJSON().

        ``reattest`` attests an existing credential again, ignoring
        excludeCredentials (what a misbehaving client could send)."""
        rp_id = rp_id or options["rp"].get("id", RP_ID)
        if reattest is not None:
            credential = self.credentials[reattest]
        else:
            excluded = {from_b64url(c["id"]) for c in options.get("excludeCredentials", [])}
            if excluded & set(self.credentials):
                raise ExcludedCredential()
            credential = Credential(
                credential_id=os.urandom(32),
                private_key=ec.generate_private_key(ec.SECP256R1()),
                rp_id=rp_id,
                user_handle=from_b64url(options["user"]["id"]),
            )
            self.credentials[credential.credential_id] = credential
        attested = (
            self.aaguid
            + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id
            + credential.cose_public_key()
        )
        auth_data = self._auth_data(rp_id, self._flags(True), credential.sign_count, attested)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data(
            "webauthn.create", challenge or options["challenge"], origin
        )
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": self.transports,
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def get(
        self,
        options: dict,
        *,
        origin: str = ORIGIN,
        rp_id: str | None = None,
        credential_id: bytes | None = None,
        sign_count: int | None = None,
        send_user_handle: bool = True,
    ) -> dict:
        """navigator.credentials.get(): an assertion, as toJSON().

        Uses the credential named, else the first allowed one held, else (an empty
        allowCredentials: discoverable login) the first one for the RP."""
        rp_id = rp_id or options.get("rpId", RP_ID)
        credential = self._pick(options, rp_id, credential_id)
        credential.sign_count += self.counter_step
        count = credential.sign_count if sign_count is None else sign_count
        auth_data = self._auth_data(rp_id, self._flags(False), count)
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = credential.private_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        response = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        if send_user_handle:
            response["userHandle"] = b64url(credential.user_handle)
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": response,
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def _pick(self, options: dict, rp_id: str, credential_id: bytes | None) -> Credential:
        if credential_id is not None:
            return self.credentials[credential_id]
        allowed = [from_b64url(c["id"]) for c in options.get("allowCredentials", [])]
        if allowed:
            for cid in allowed:
                if cid in self.credentials:
                    return self.credentials[cid]
            raise NoCredential()
        for credential in self.credentials.values():
            if credential.rp_id == rp_id:
                return credential
        raise NoCredential()

    def clone(self) -> SoftwareAuthenticator:
        """A copy holding the same keys and counters (what an attacker's clone would be)."""
        twin = copy.copy(self)
        twin.credentials = {
            cid: Credential(c.credential_id, c.private_key, c.rp_id, c.user_handle, c.sign_count)
            for cid, c in self.credentials.items()
        }
        return twin

    @property
    def only_credential_id(self) -> bytes:
        (cid,) = self.credentials
        return cid
