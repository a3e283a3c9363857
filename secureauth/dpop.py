"""DPoP proofs (RFC 9449): verification of one proof, JWK thumbprints, ``htu`` normalisation.

A pure module: no Django, no settings, no cache. The caller hands in the proof, the
request's method and URL, the time and what it expects; it gets the verified key
thumbprint (``jkt``), ``jti`` and ``iat`` back, or a ``DPoPError``. Replay of a ``jti``
and server nonces are the caller's (``secureauth.services.dpop``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
from jwt.algorithms import get_default_algorithms

PROOF_TYPE = "dpop+jwt"
#: Asymmetric JWS algorithms a proof may use (RFC 9449 §4.2: never "none", never a MAC).
SUPPORTED_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
DEFAULT_ALGORITHMS = ("ES256", "EdDSA", "RS256", "PS256")
#: JWK members that belong to a private or symmetric key (RFC 7517, RFC 7518 §6).
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: RFC 7638 §3.2: the members of each key type that make up its thumbprint.
THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}
#: The key type (and curves) each algorithm family needs.
KEY_TYPES = {"ES": "EC", "RS": "RSA", "PS": "RSA", "Ed": "OKP"}
EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
OKP_CURVES = ("Ed25519", "Ed448")
MIN_RSA_BITS = 2048
#: Larger than any honest proof (an RSA-4096 JWK and its signature fit in ~2 KiB).
MAX_PROOF_LENGTH = 8192
MAX_JTI_LENGTH = 256
DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT_TRIPLET = re.compile(r"%([0-9A-Fa-f]{2})")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
#: PyJWT's algorithm objects, built once (``get_default_algorithms()`` makes new ones).
_ALGORITHMS = {name: get_default_algorithms()[name] for name in SUPPORTED_ALGORITHMS}


class DPoPError(Exception):
    """The proof is refused: ``code`` is ``invalid_dpop_proof`` (or, for
    ``UseDPoPNonce``, ``use_dpop_nonce``); ``detail`` says why."""

    code = "invalid_dpop_proof"

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class UseDPoPNonce(DPoPError):
    """The proof lacks the server's current nonce (RFC 9449 §8, §9)."""

    code = "use_dpop_nonce"


@dataclass(frozen=True)
class VerifiedProof:
    jkt: str  # RFC 7638 SHA-256 thumbprint of the proof's public key
    jti: str
    iat: int
    htm: str
    htu: str


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of a public JWK."""
    members = THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None or any(not isinstance(jwk.get(name), str) for name in members):
        raise DPoPError("The proof's jwk is not a usable public key.")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def access_token_hash(access_token: str) -> str:
    """The ``ath`` claim for an access token: base64url(SHA-256(token))."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def _normalize_percent_encoding(text: str) -> str:
    """RFC 3986 §6.2.2.1-2: triplets in upper case, unreserved characters decoded."""

    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _PERCENT_TRIPLET.sub(fix, text)


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4."""
    output: list[str] = []
    while path:
        if path.startswith("../"):
            path = path[3:]
        elif path.startswith("./"):
            path = path[2:]
        elif path.startswith("/./"):
            path = path[2:]
        elif path == "/.":
            path = "/"
        elif path.startswith("/../"):
            path = path[3:]
            if output:
                output.pop()
        elif path == "/..":
            path = "/"
            if output:
                output.pop()
        elif path in (".", ".."):
            path = ""
        else:
            start = 1 if path.startswith("/") else 0
            end = path.find("/", start)
            end = len(path) if end < 0 else end
            output.append(path[:end])
            path = path[end:]
    return "".join(output)


def normalize_htu(url: str) -> str:
    """An HTTP(S) URL as ``htu`` is compared (RFC 9449 §4.3, RFC 3986 §6.2.2-3): scheme
    and host in lower case, the default port dropped, percent-encoding and dot segments
    normalised, an empty path made ``/``, query and fragment removed."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise DPoPError("The proof's htu is not a valid URL.")
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or not host:
        raise DPoPError("The proof's htu must be an absolute http or https URL.")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    if "@" in parts.netloc:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    path = remove_dot_segments(_normalize_percent_encoding(parts.path)) or "/"
    return f"{scheme}://{_normalize_percent_encoding(netloc)}{path}"


def _public_key(alg: str, jwk: Any) -> Any:
    """The verification key of a proof's ``jwk`` header, which must be a public key
    of the algorithm's type."""
    if not isinstance(jwk, dict):
        raise DPoPError("The proof has no jwk header.")
    if jwk.get("kty") == "oct" or PRIVATE_MEMBERS & jwk.keys():
        raise DPoPError("The proof's jwk must be a public key.")
    kty = KEY_TYPES[alg[:2]]
    if jwk.get("kty") != kty:
        raise DPoPError(f"The proof's jwk is not a {kty} key, as {alg} needs.")
    if kty == "EC" and jwk.get("crv") != EC_CURVES[alg]:
        raise DPoPError(f"The proof's jwk is not on the curve {alg} needs.")
    if kty == "OKP" and jwk.get("crv") not in OKP_CURVES:
        raise DPoPError("The proof's jwk is not an Ed25519 or Ed448 key.")
    try:
        key = _ALGORITHMS[alg].from_jwk(jwk)
    except (jwt.InvalidKeyError, ValueError, TypeError, KeyError):
        raise DPoPError("The proof's jwk is not a usable public key.")
    if kty == "RSA" and key.key_size < MIN_RSA_BITS:
        raise DPoPError(f"The proof's RSA key is shorter than {MIN_RSA_BITS} bits.")
    return key


def _b64url_bytes(segment: str) -> bytes:
    """One segment of a compact JWS: unpadded base64url, nothing else."""
    try:
        if not _BASE64URL.fullmatch(segment):
            raise ValueError(segment)
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except ValueError:  # binascii.Error too: a length no base64 text has
        raise DPoPError("The DPoP proof is not a JWT.")


def _b64url_json(segment: str, what: str) -> Any:
    try:
        return json.loads(_b64url_bytes(segment))
    except ValueError:  # not UTF-8, not JSON
        raise DPoPError(f"The DPoP proof's {what} is not JSON.")


def _verified_header_and_claims(
    proof: str, algorithms: Collection[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The proof's header and claims, its signature verified with its own ``jwk``.

    The compact JWS is parsed here, once (PyJWT's parser checks each segment character
    by character, twice when the header is read first), and the signature checked with
    PyJWT's algorithm objects."""
    if not isinstance(proof, str) or not proof or len(proof) > MAX_PROOF_LENGTH:
        raise DPoPError("The DPoP header is missing, empty or too long.")
    segments = proof.split(".")
    if len(segments) != 3:
        raise DPoPError("The DPoP proof is not a JWT.")
    header_b64, payload_b64, signature_b64 = segments
    header = _b64url_json(header_b64, "header")
    if not isinstance(header, dict):
        raise DPoPError("The DPoP proof is not a JWT.")
    if header.get("typ") != PROOF_TYPE:
        raise DPoPError(f'The proof\'s typ must be "{PROOF_TYPE}".')
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms or alg not in SUPPORTED_ALGORITHMS:
        raise DPoPError(f"The proof's alg is not one of {', '.join(sorted(algorithms))}.")
    if "crit" in header:  # no JWS extension is understood here (RFC 7515 §4.1.11)
        raise DPoPError("The proof's header has critical extensions.")
    key = _public_key(alg, header.get("jwk"))
    signature = _b64url_bytes(signature_b64)
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    if not _ALGORITHMS[alg].verify(signing_input, key, signature):
        raise DPoPError("The proof's signature does not verify with its jwk.")
    claims = _b64url_json(payload_b64, "payload")
    if not isinstance(claims, dict):
        raise DPoPError("The proof's payload is not a JSON object.")
    return header, claims


def _string_claim(claims: dict[str, Any], name: str, max_length: int = 2048) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise DPoPError(f"The proof's {name} claim is missing or malformed.")
    return value


def verify_proof(
    proof: str,
    *,
    method: str,
    url: str,
    now: float,
    access_token: str | None = None,
    expected_jkt: str | None = None,
    nonces: Collection[str] | None = None,
    max_age: float = 300,
    clock_skew: float = 5,
    algorithms: Collection[str] = DEFAULT_ALGORITHMS,
) -> VerifiedProof:
    """Verify one DPoP proof for a request (RFC 9449 §4.3), or raise ``DPoPError``.

    ``url`` is the request's URL as the server sees it (its query is ignored);
    ``now`` is a UNIX time. With ``access_token`` the proof's ``ath`` must be its hash;
    with ``expected_jkt`` the proof must be signed by that key; with ``nonces`` its
    ``nonce`` must be one of them (``UseDPoPNonce`` otherwise). Replay of the ``jti``
    is not checked here."""
    header, claims = _verified_header_and_claims(proof, algorithms)
    jti = _string_claim(claims, "jti", MAX_JTI_LENGTH)
    if _string_claim(claims, "htm", 16) != method.upper():
        raise DPoPError("The proof's htm does not match the request method.")
    htu = _string_claim(claims, "htu")
    if normalize_htu(htu) != normalize_htu(url):
        raise DPoPError("The proof's htu does not match the request URL.")
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        raise DPoPError("The proof's iat claim is missing or malformed.")
    if iat > now + clock_skew:
        raise DPoPError("The proof's iat is in the future.")
    if iat < now - max_age:
        raise DPoPError("The proof has expired (iat too old).")
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(
            ath.encode(), access_token_hash(access_token).encode()
        ):
            raise DPoPError("The proof's ath does not match the access token.")
    if nonces is not None:
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or nonce not in nonces:
            raise UseDPoPNonce("Send a DPoP proof with the server's nonce (DPoP-Nonce header).")
    jkt = jwk_thumbprint(header["jwk"])
    if expected_jkt is not None and not hmac.compare_digest(jkt, expected_jkt):
        raise DPoPError("The proof is not signed by the key the token is bound to.")
    return VerifiedProof(jkt=jkt, jti=jti, iat=int(iat), htm=method.upper(), htu=htu)
