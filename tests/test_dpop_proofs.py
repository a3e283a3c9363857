"""secureauth.dpop, the pure proof verifier: RFC test vectors and every rejection."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

import jwt
import pytest

from secureauth.dpop import (
    DPoPError,
    UseDPoPNonce,
    access_token_hash,
    jwk_thumbprint,
    normalize_htu,
    remove_dot_segments,
    verify_proof,
)
from tests.dpop_keys import DPoPKey

URL = "https://auth.example.com/auth/me/"

# RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint.
RFC7638_JWK = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
    "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0"
    "_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhA"
    "I4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
# RFC 9449 §4.1 (and Figure 5): an example proof, signed by the key in its own jwk.
RFC9449_PROOF = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0"
    "VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10"
    "NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoi"
    "UE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-"
    "GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
)
RFC9449_IAT = 1562262616
# RFC 9449 §6.1: the thumbprint of that proof's key (the cnf.jkt of its tokens).
RFC9449_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


def verify(proof: str, method: str = "GET", url: str = URL, **kwargs):
    kwargs.setdefault("now", time.time())
    return verify_proof(proof, method=method, url=url, **kwargs)


def refused(proof: str, reason: str, **kwargs) -> None:
    with pytest.raises(DPoPError) as caught:
        verify(proof, **kwargs)
    assert caught.value.code == "invalid_dpop_proof"
    assert reason in caught.value.detail, caught.value.detail


def test_the_verifier_is_pure():
    """No Django (nor DRF) is needed to verify a proof: the module imports neither."""
    code = "import sys, secureauth.dpop; print(sorted(m for m in sys.modules if 'django' in m))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


# -- the RFCs' own examples -----------------------------------------------------------


def test_rfc7638_thumbprint_example():
    assert jwk_thumbprint(RFC7638_JWK) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_rfc9449_example_proof_verifies_with_its_own_key():
    header = jwt.get_unverified_header(RFC9449_PROOF)
    assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256"
    assert header["jwk"]["kty"] == "EC" and header["jwk"]["crv"] == "P-256"
    claims = jwt.decode(RFC9449_PROOF, options={"verify_signature": False})
    assert claims == {
        "jti": "-BwC3ESc6acc2lTc",
        "htm": "POST",
        "htu": "https://server.example.com/token",
        "iat": RFC9449_IAT,
    }
    proof = verify(RFC9449_PROOF, "POST", "https://server.example.com/token", now=RFC9449_IAT + 10)
    assert (proof.jkt, proof.jti, proof.iat) == (RFC9449_JKT, "-BwC3ESc6acc2lTc", RFC9449_IAT)
    assert jwk_thumbprint(header["jwk"]) == RFC9449_JKT


def test_rfc9449_example_proof_is_only_for_its_request_and_time():
    token_url = "https://server.example.com/token"
    refused(RFC9449_PROOF, "htm", method="GET", url=token_url, now=RFC9449_IAT)
    refused(
        RFC9449_PROOF, "htu", method="POST", url="https://other.example.com/token", now=RFC9449_IAT
    )
    refused(RFC9449_PROOF, "expired", method="POST", url=token_url, now=RFC9449_IAT + 301)


def test_thumbprint_ignores_non_required_members_and_their_order():
    key = DPoPKey("ES256")
    shuffled = dict(reversed(list({**key.public_jwk, "kid": "x", "use": "sig"}.items())))
    assert jwk_thumbprint(shuffled) == key.jkt


def test_ath_is_the_base64url_sha256_of_the_token():
    # SHA-256("abc") from FIPS 180-2, base64url without padding.
    assert access_token_hash("abc") == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"


# -- htu normalisation (RFC 9449 §4.3, RFC 3986 §6.2.2-3) -----------------------------


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://auth.example.com/auth/me/", "https://auth.example.com/auth/me/"),
        ("HTTPS://Auth.Example.COM/auth/me/", "https://auth.example.com/auth/me/"),
        ("https://auth.example.com:443/auth/me/", "https://auth.example.com/auth/me/"),
        ("http://auth.example.com:80/x", "http://auth.example.com/x"),
        ("http://auth.example.com:8000/x", "http://auth.example.com:8000/x"),
        ("https://auth.example.com:80/x", "https://auth.example.com:80/x"),
        ("https://auth.example.com/auth/me/?a=1#frag", "https://auth.example.com/auth/me/"),
        ("https://auth.example.com", "https://auth.example.com/"),
        ("https://auth.example.com/a/./b/../c", "https://auth.example.com/a/c"),
        ("https://auth.example.com/%7euser/%2f", "https://auth.example.com/~user/%2F"),
        ("https://auth.example.com/%41%62", "https://auth.example.com/Ab"),
        ("http://[::1]:8000/x", "http://[::1]:8000/x"),
        ("http://[2001:DB8::1]/x", "http://[2001:db8::1]/x"),
    ],
)
def test_htu_normalisation(url, normalised):
    assert normalize_htu(url) == normalised


@pytest.mark.parametrize(
    "url", ["/auth/me/", "ftp://auth.example.com/x", "https:///x", "https://h:99999/x", ""]
)
def test_htu_must_be_an_absolute_http_url(url):
    with pytest.raises(DPoPError):
        normalize_htu(url)


@pytest.mark.parametrize(
    ("path", "result"),
    [("/a/b/c/./../../g", "/a/g"), ("mid/content=5/../6", "mid/6"), ("/..", "/"), ("", "")],
)
def test_remove_dot_segments_rfc3986_examples(path, result):
    assert remove_dot_segments(path) == result


def test_equivalent_urls_match():
    key = DPoPKey()
    proof = key.proof("GET", "HTTPS://AUTH.example.com:443/auth/%6De/?x=1")
    assert verify(proof, url="https://auth.example.com/auth/me/?y=2").jkt == key.jkt


# -- what is accepted -----------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "PS256"])
def test_each_default_algorithm_is_accepted(alg):
    key = DPoPKey(alg)
    token = "an.access.token"
    proof = verify(key.proof("POST", URL, access_token=token), "post", access_token=token)
    assert proof.jkt == key.jkt and proof.htm == "POST"


def test_other_asymmetric_algorithms_only_when_allowed():
    key = DPoPKey("ES384")
    refused(key.proof("GET", URL), "alg")
    assert verify(key.proof("GET", URL), algorithms=["ES384"]).jkt == key.jkt


def test_iat_slightly_ahead_is_tolerated():
    now = time.time()
    assert verify(DPoPKey().proof("GET", URL, iat=int(now) + 4), now=now)
    assert verify(DPoPKey().proof("GET", URL, iat=now - 299.5), now=now)


def test_expected_key_and_nonce_accepted():
    key = DPoPKey()
    proof = key.proof("GET", URL, nonce="n-1")
    assert verify(proof, expected_jkt=key.jkt, nonces=["n-0", "n-1"]).jkt == key.jkt


# -- every rejection ------------------------------------------------------------------


def _b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("proof", "reason"),
    [
        ("", "missing"),
        ("x" * 9000, "too long"),
        ("not-a-jwt", "not a JWT"),
        ("a.b", "not a JWT"),
        (_b64(b"\xff\xfe") + ".e30.sig", "not JSON"),
        ("e30.e30.sig", "typ"),
        ("bm90IGpzb24.e30.sig", "not JSON"),
        ("W10.e30.sig", "not a JWT"),  # a header that is not an object
        ("e30=.e30.sig", "not a JWT"),  # padded
        ("e30.e30.e30.e30", "not a JWT"),
    ],
)
def test_malformed_proofs(proof, reason):
    refused(proof, reason)


@pytest.mark.parametrize("typ", [None, "JWT", "DPoP+JWT", "at+jwt"])
def test_typ_must_be_dpop_jwt(typ):
    refused(DPoPKey().proof("GET", URL, typ=typ), "typ")


def test_alg_none_is_refused():
    key = DPoPKey()
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": key.public_jwk}
    claims = {"jti": "1", "htm": "GET", "htu": URL, "iat": int(time.time())}
    refused(f"{_b64(header)}.{_b64(claims)}.", "alg")


def test_symmetric_alg_and_oct_key_are_refused():
    secret = b"0123456789abcdef0123456789abcdef"
    oct_jwk = {"kty": "oct", "k": _b64(secret)}
    key = DPoPKey()
    refused(key.proof("GET", URL, alg="HS256", signing_key=secret, jwk=oct_jwk), "alg")
    refused(
        key.proof("GET", URL, alg="HS256", signing_key=secret, jwk=oct_jwk),
        "alg",
        algorithms=["HS256", "ES256"],  # even if configured: never a MAC
    )
    refused(key.proof("GET", URL, jwk=oct_jwk), "public key")


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "k"])
def test_private_key_members_in_the_jwk_are_refused(member):
    key = DPoPKey("RS256")
    jwk = {**key.public_jwk, member: key.private_jwk.get(member, "AQAB")}
    refused(key.proof("GET", URL, jwk=jwk), "public key")


def test_ec_private_jwk_is_refused():
    key = DPoPKey("ES256")
    refused(key.proof("GET", URL, jwk=key.private_jwk), "public key")


@pytest.mark.parametrize(
    "jwk",
    [
        None,
        "a string",
        {"kty": "RSA", "n": "AQAB", "e": "AQAB"},  # wrong type for ES256
        {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},  # wrong curve for ES256
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},  # not a point on the curve
        {"kty": "EC", "crv": "P-256"},
    ],
)
def test_jwk_must_be_a_usable_key_of_the_algorithm(jwk):
    refused(DPoPKey("ES256").proof("GET", URL, jwk=jwk), "jwk")


def test_eddsa_needs_an_edwards_curve():
    key = DPoPKey("EdDSA")
    refused(key.proof("GET", URL, jwk={**key.public_jwk, "crv": "X25519"}), "Ed25519")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_short_rsa_keys_are_refused():
    refused(DPoPKey("RS256", rsa_bits=1024).proof("GET", URL), "2048")


def test_signature_must_verify_with_the_jwk():
    key, other = DPoPKey(), DPoPKey()
    refused(key.proof("GET", URL, jwk=other.public_jwk), "signature")
    header, payload, signature = key.proof("GET", URL).split(".")
    tampered = _b64({"jti": "x", "htm": "POST", "htu": URL, "iat": int(time.time())})
    refused(f"{header}.{tampered}.{signature}", "signature")


def test_signature_segment_must_be_base64url():
    header, payload, _ = DPoPKey().proof("GET", URL).split(".")
    for signature in ("a", "a+b/", "abcde", ""):
        refused(f"{header}.{payload}.{signature}", "", now=time.time())


def test_critical_header_extensions_are_refused():
    key = DPoPKey()
    proof = jwt.encode(
        {"jti": "1", "htm": "GET", "htu": URL, "iat": int(time.time())},
        key.private_key,
        algorithm="ES256",
        headers={"typ": "dpop+jwt", "jwk": key.public_jwk, "crit": ["exp"], "exp": 1},
    )
    refused(proof, "critical")


def test_payload_must_be_an_object():
    key = DPoPKey()
    proof = jwt.api_jws.PyJWS().encode(
        b"[1, 2]",
        key.private_key,
        algorithm="ES256",
        headers={"typ": "dpop+jwt", "jwk": key.public_jwk},
    )
    refused(proof, "JSON object")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"jti": None}, "jti"),
        ({"jti": ""}, "jti"),
        ({"jti": 12}, "jti"),
        ({"jti": "x" * 300}, "jti"),
        ({"htm": None}, "htm"),
        ({"htm": "POST"}, "htm"),
        ({"htu": None}, "htu"),
        ({"htu": "https://auth.example.com/auth/sessions/"}, "htu"),
        ({"htu": "https://evil.example.com/auth/me/"}, "htu"),
        ({"htu": "http://auth.example.com/auth/me/"}, "htu"),
        ({"htu": "/auth/me/"}, "htu"),
        ({"iat": None}, "iat"),
        ({"iat": "1700000000"}, "iat"),
        ({"iat": True}, "iat"),
    ],
)
def test_claims_must_match_the_request(claims, reason):
    refused(DPoPKey().proof("GET", URL, **claims), reason)


def test_iat_window():
    now = time.time()
    refused(DPoPKey().proof("GET", URL, iat=int(now) + 60), "future", now=now)
    refused(DPoPKey().proof("GET", URL, iat=int(now) - 301), "expired", now=now)
    refused(DPoPKey().proof("GET", URL, iat=int(now) - 61), "expired", now=now, max_age=60)


def test_ath_must_match_the_presented_access_token():
    key = DPoPKey()
    refused(key.proof("GET", URL), "ath", access_token="token-a")
    refused(key.proof("GET", URL, access_token="token-b"), "ath", access_token="token-a")


def test_nonce_must_be_a_current_one():
    key = DPoPKey()
    for proof in (key.proof("GET", URL), key.proof("GET", URL, nonce="old")):
        with pytest.raises(UseDPoPNonce) as caught:
            verify(proof, nonces=["fresh"])
        assert caught.value.code == "use_dpop_nonce"


def test_expected_key_must_sign_the_proof():
    refused(DPoPKey().proof("GET", URL), "bound to", expected_jkt=DPoPKey().jkt)
