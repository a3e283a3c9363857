"""Authenticated encryption of TOTP seeds at rest, under ``MFA_ENCRYPTION_KEYS``.

A seed is sealed with AES-256-GCM (a fresh 96-bit nonce each time) under the first
key of the keyring; every key of the keyring opens. Each ciphertext is stored with
the id of its key (a digest of the key, so ids need no configuration and never
collide by accident), and its associated data names the device row it belongs to
(the device's model, primary key and user): a ciphertext copied onto another row,
or a device moved to another user, does not open.

With ``MFA_ENCRYPTION_KEYS`` empty, the key is derived from ``SECRET_KEY`` with
HKDF-SHA256, so seeds are always encrypted (``manage.py check`` warns about it
outside DEBUG: secureauth.W070). The keys derived from ``SECRET_KEY`` and from each
of ``SECRET_KEY_FALLBACKS`` always open, so moving from the derived key to explicit
keys, or rotating ``SECRET_KEY`` the Django way, is followed by one run of
``secureauth_rotate_mfa_keys``.

No Django model in here: the migration that seals existing seeds uses it too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from .conf import app_settings

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # GCM's 96-bit nonce, random per seal
KEY_ID_CHARS = 16
#: The shortest seed worth sealing: RFC 4226's minimum of 128 bits. A shorter one (an
#: empty key column, say) is left in clear, where SecureAuth accepts no code for it.
MIN_SEED_BYTES = 16
SEED_FORMAT = "secureauth.totp-seed.v1"
#: The model every TOTP seed belongs to, named in the associated data. It is the
#: concrete django-otp model (not a proxy) so the binding outlives the classes.
TOTP_DEVICE_LABEL = "otp_totp.totpdevice"
_DERIVATION_INFO = b"secureauth.mfa-encryption-key.v1"


class KeyringError(ValueError):
    """``MFA_ENCRYPTION_KEYS`` is unusable (the message names the entry and why)."""


class SeedUnavailable(Exception):
    """A sealed seed cannot be opened: its key is not in the keyring, the ciphertext
    does not authenticate for this row, or the seed was never sealed."""

    def __init__(self, reason: str, key_id: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.key_id = key_id


@dataclass(frozen=True)
class SealingKey:
    key_id: str
    secret: bytes = field(repr=False)
    source: str  # where it comes from: "MFA_ENCRYPTION_KEYS[0]", "SECRET_KEY", ...


@dataclass(frozen=True)
class SealedSeed:
    key_id: str
    ciphertext: bytes  # nonce || AES-GCM ciphertext || tag


def decode_key(value: object) -> bytes:
    """A key as configured (a base64 string, URL-safe or standard, padding optional)
    as its 32 bytes; KeyringError says what is wrong with it."""
    if not isinstance(value, str):
        raise KeyringError(f"is a {type(value).__name__}, not a base64 string")
    text = value.strip()
    try:
        # altchars maps the URL-safe alphabet onto the standard one, which stays valid.
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError("is not base64") from None
    if len(raw) != KEY_BYTES:
        raise KeyringError(f"decodes to {len(raw)} bytes, not {KEY_BYTES}")
    return raw


def seed_in_clear(key_column: str) -> bytes:
    """The seed a django-otp ``key`` column holds in clear (hex), or ValueError saying
    why it is not one worth sealing."""
    try:
        seed = binascii.unhexlify(key_column.encode())
    except (binascii.Error, ValueError):
        raise ValueError("its key column is neither sealed nor hex") from None
    if len(seed) < MIN_SEED_BYTES:
        raise ValueError(f"its seed has {len(seed)} bytes, fewer than {MIN_SEED_BYTES}")
    return seed


def key_id(secret: bytes) -> str:
    """The id stored beside each ciphertext: a digest of the key, never the key."""
    return hashlib.sha256(b"secureauth.mfa-key-id:" + secret).hexdigest()[:KEY_ID_CHARS]


def derive_key(secret_key: str | bytes) -> bytes:
    """The key used when MFA_ENCRYPTION_KEYS is empty: HKDF-SHA256 of SECRET_KEY,
    separated from every other use of it."""
    material = secret_key.encode() if isinstance(secret_key, str) else secret_key
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_DERIVATION_INFO)
    return hkdf.derive(material)


def associated_data(device_pk: object, user_id: object, sealing_key_id: str) -> bytes:
    """What a ciphertext is bound to: its device row, that row's user, its key."""
    return f"{SEED_FORMAT}|{TOTP_DEVICE_LABEL}|{device_pk}|{user_id}|{sealing_key_id}".encode()


def generate_key() -> str:
    """A new key in the form MFA_ENCRYPTION_KEYS takes."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


@dataclass(frozen=True)
class Keyring:
    """The first key seals; every key opens."""

    keys: tuple[SealingKey, ...]

    @property
    def current(self) -> SealingKey:
        return self.keys[0]

    def find(self, wanted_id: str) -> SealingKey | None:
        return next((key for key in self.keys if key.key_id == wanted_id), None)

    def seal(self, seed: bytes, *, device_pk: object, user_id: object) -> SealedSeed:
        key = self.current
        nonce = secrets.token_bytes(NONCE_BYTES)
        aad = associated_data(device_pk, user_id, key.key_id)
        return SealedSeed(key.key_id, nonce + AESGCM(key.secret).encrypt(nonce, seed, aad))

    def open(self, sealed: SealedSeed, *, device_pk: object, user_id: object) -> bytes:
        key = self.find(sealed.key_id)
        if key is None:
            raise SeedUnavailable("sealed under a key that is not configured", sealed.key_id)
        blob = bytes(sealed.ciphertext)  # a BinaryField reads back as memoryview on PostgreSQL
        nonce, ciphertext = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
        aad = associated_data(device_pk, user_id, key.key_id)
        try:
            return AESGCM(key.secret).decrypt(nonce, ciphertext, aad)
        except (InvalidTag, ValueError):
            raise SeedUnavailable(
                "does not authenticate for this device (altered or copied)", sealed.key_id
            ) from None


def configured_keys(values: object) -> list[bytes]:
    """The keys of an MFA_ENCRYPTION_KEYS value, in order; KeyringError on a bad one."""
    if not isinstance(values, list | tuple):
        raise KeyringError(f"must be a list of base64 keys, not {type(values).__name__}")
    decoded: list[bytes] = []
    for index, value in enumerate(values):
        try:
            raw = decode_key(value)
        except KeyringError as exc:
            raise KeyringError(f"entry {index} {exc}") from None
        if raw in decoded:
            raise KeyringError(f"entry {index} repeats entry {decoded.index(raw)}")
        decoded.append(raw)
    return decoded


def _derived_keys() -> Iterable[SealingKey]:
    yield _sealing_key(derive_key(settings.SECRET_KEY), "SECRET_KEY")
    for index, fallback in enumerate(getattr(settings, "SECRET_KEY_FALLBACKS", None) or ()):
        yield _sealing_key(derive_key(fallback), f"SECRET_KEY_FALLBACKS[{index}]")


def _sealing_key(secret: bytes, source: str) -> SealingKey:
    return SealingKey(key_id(secret), secret, source)


def keyring() -> Keyring:
    """The keyring of the current settings: MFA_ENCRYPTION_KEYS (the first seals), then
    the keys derived from SECRET_KEY and SECRET_KEY_FALLBACKS (the first of those seals
    when no key is configured). KeyringError when the setting is unusable."""
    configured = [
        _sealing_key(raw, f"MFA_ENCRYPTION_KEYS[{index}]")
        for index, raw in enumerate(configured_keys(app_settings.MFA_ENCRYPTION_KEYS))
    ]
    keys = list(configured)
    for derived in _derived_keys():
        if all(key.key_id != derived.key_id for key in keys):
            keys.append(derived)
    return Keyring(tuple(keys))
