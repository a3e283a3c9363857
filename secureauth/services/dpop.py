"""DPoP proofs (RFC 9449) checked as the settings say: allowed algorithms, the proof
window, server nonces, and the ``jti`` replay cache shared by every process.

``secureauth.dpop`` verifies one proof; this module adds what needs state. A proof's
``jti`` is remembered in the Django cache (``DPOP_CACHE``) for as long as the proof
could still be accepted, with one ``cache.add``: the first request to present it
wins, in every process sharing that cache. When the cache cannot be reached, proofs
are refused (503), never accepted unchecked.
"""

from __future__ import annotations

import hashlib
import logging
import time

from django.core.cache import caches
from django.utils.crypto import constant_time_compare, salted_hmac

from .. import dpop
from ..conf import app_settings
from ..exceptions import InvalidDPoPProof, ServiceUnavailable, UseDPoPNonce

logger = logging.getLogger("secureauth")

JTI_KEY_PREFIX = "secureauth:dpop:jti:"
NONCE_SALT = "secureauth.dpop.nonce"


def proof_window_seconds() -> int:
    """How long a proof can be accepted after it is first seen: its ``iat`` may be up to
    the clock skew ahead, and stays acceptable for DPOP_PROOF_MAX_AGE after that."""
    window = app_settings.DPOP_PROOF_MAX_AGE + app_settings.DPOP_CLOCK_SKEW
    return int(window.total_seconds()) + 1


def _nonce_of(period: int) -> str:
    mac = salted_hmac(NONCE_SALT, str(period), algorithm="sha256").digest()
    return f"{period:x}.{dpop.b64url(mac[:18])}"


def _nonce_period(now: float) -> int:
    return int(now // max(1.0, app_settings.DPOP_NONCE_LIFETIME.total_seconds()))


def current_nonce(now: float | None = None) -> str | None:
    """The nonce to hand out in ``DPoP-Nonce`` (None when DPOP_NONCE is off). Nonces are
    derived from the secret key and the time, so every process agrees without storage."""
    if not app_settings.DPOP_NONCE:
        return None
    return _nonce_of(_nonce_period(time.time() if now is None else now))


def accepted_nonces(now: float) -> tuple[str, ...] | None:
    """The nonces a proof may carry: this period's and the previous one's (a nonce
    handed out just before the period ended stays usable); None when nonces are off."""
    if not app_settings.DPOP_NONCE:
        return None
    period = _nonce_period(now)
    return (_nonce_of(period), _nonce_of(period - 1))


def _jti_key(proof: dpop.VerifiedProof) -> str:
    digest = hashlib.sha256(f"{proof.jkt}:{proof.jti}".encode()).hexdigest()
    return JTI_KEY_PREFIX + digest


def remember_jti(proof: dpop.VerifiedProof) -> None:
    """Accept a proof's ``jti`` once: InvalidDPoPProof if any process saw it already."""
    try:
        first = caches[app_settings.DPOP_CACHE].add(_jti_key(proof), 1, proof_window_seconds())
    except Exception as exc:  # any backend error: connection refused, timeout, ...
        logger.error("secureauth DPoP replay cache unavailable: %s: %s", type(exc).__name__, exc)
        raise ServiceUnavailable("DPoP proofs cannot be checked right now; try again shortly.")
    if not first:
        raise InvalidDPoPProof("This DPoP proof was already used; sign each request anew.")


def accept_proof(
    proof: str | None,
    *,
    method: str,
    url: str,
    access_token: str | None = None,
    expected_jkt: str | None = None,
) -> dpop.VerifiedProof:
    """Verify a proof for one request and spend its ``jti``; InvalidDPoPProof (or
    UseDPoPNonce, carrying the nonce to use) otherwise."""
    now = time.time()
    if not proof:
        raise InvalidDPoPProof("Send a DPoP proof (the DPoP header) with this request.")
    try:
        verified = dpop.verify_proof(
            proof,
            method=method,
            url=url,
            now=now,
            access_token=access_token,
            expected_jkt=expected_jkt,
            nonces=accepted_nonces(now),
            max_age=app_settings.DPOP_PROOF_MAX_AGE.total_seconds(),
            clock_skew=app_settings.DPOP_CLOCK_SKEW.total_seconds(),
            algorithms=app_settings.DPOP_ALGORITHMS,
        )
    except dpop.UseDPoPNonce as error:
        raise UseDPoPNonce(error.detail, nonce=current_nonce(now))
    except dpop.DPoPError as error:
        raise InvalidDPoPProof(error.detail, nonce=current_nonce(now))
    remember_jti(verified)
    return verified


def check_key_binding(bound_jkt: str, presented_jkt: str | None) -> None:
    """Tokens of a session bound to ``bound_jkt`` need a proof by that key."""
    if not bound_jkt:
        return
    if presented_jkt is None:
        raise InvalidDPoPProof(
            "This refresh token is bound to a DPoP key: send a proof signed by that key."
        )
    if not constant_time_compare(bound_jkt, presented_jkt):
        raise InvalidDPoPProof("The DPoP proof is not signed by the key the token is bound to.")
