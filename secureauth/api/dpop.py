"""The HTTP side of DPoP (RFC 9449): the proof header, the URL it must name, and the
key a sign-in binds its session to."""

from __future__ import annotations

from ..conf import app_settings
from ..exceptions import Invalid, InvalidDPoPProof
from ..services.dpop import accept_proof, current_nonce

DPOP_META = "HTTP_DPOP"
NONCE_HEADER = "DPoP-Nonce"


def proof_header(request) -> str | None:
    """The request's ``DPoP`` header; None without one. Several (folded into one
    comma-separated value by the server) are refused: a proof has no comma."""
    value = request.META.get(DPOP_META)
    if value is None:
        return None
    if "," in value:
        raise InvalidDPoPProof("Send exactly one DPoP header.")
    return value.strip()


def request_url(request) -> str:
    """The URL the client called (its ``htu``), as Django sees it behind the configured
    proxies: the scheme through SECURE_PROXY_SSL_HEADER, the host through ALLOWED_HOSTS
    and USE_X_FORWARDED_HOST / USE_X_FORWARDED_PORT, the path with its script prefix."""
    return request.build_absolute_uri(request.path)


def sign_in_key(request) -> str | None:
    """The DPoP key (RFC 7638 thumbprint) the tokens of this sign-in or refresh are to be
    bound to: that of the request's proof, verified and spent; None without a proof.

    Any view that issues tokens calls it (``SecureAuthView.sign_in_client``). A bad proof
    is 400 ``invalid_dpop_proof``; no proof while DPOP_REQUIRED is on, 400 ``invalid``."""
    proof = proof_header(request)
    if proof is None:
        if app_settings.DPOP_REQUIRED:
            raise Invalid("This service only issues DPoP-bound tokens: send a DPoP proof.")
        return None
    return accept_proof(proof, method=request.method, url=request_url(request)).jkt


def add_nonce_header(response) -> None:
    """Hand out the current server nonce (RFC 9449 §8.2) when DPOP_NONCE is on."""
    nonce = current_nonce()
    if nonce:
        response[NONCE_HEADER] = nonce
