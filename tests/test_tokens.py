"""Access tokens: claims, algorithms, JWKS, key rotation and every way to forge one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from functools import cache

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.conf import settings
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from secureauth.models import Session
from secureauth.tokens import encode_access_token, keyset
from tests.conftest import PASSWORD, login, secureauth_settings

ISSUER = settings.SECUREAUTH["ISSUER"]
AUDIENCE = settings.SECUREAUTH["AUDIENCE"]
CLAIMS = {
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
}


@cache
def private_pem(algorithm: str, seed: int = 0) -> str:
    """A fresh PEM private key for ``algorithm`` (``seed`` tells two keys apart)."""
    if algorithm == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(private: str) -> str:
    key = serialization.load_pem_private_key(private.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_parts(header: dict, payload: dict) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"


def header_of(token: str) -> dict:
    return jwt.get_unverified_header(token)


def payload_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def me(api, token: str):
    return api.get("/auth/me/", HTTP_AUTHORIZATION=f"Bearer {token}")


def assert_refused(response, code: str = "token_invalid") -> None:
    assert response.status_code == 401, response.content
    assert response.json() == {"detail": response.json()["detail"], "code": code}
    assert response["WWW-Authenticate"] == "Bearer"


# Claims and the default algorithm


def test_access_token_claims_and_header(api, make_user):
    user = make_user("claims@example.com", roles=["admin"])
    tokens = login(api, user.email)
    token = tokens["access_token"]

    header = header_of(token)
    assert header["alg"] == "HS256"
    assert header["kid"] == keyset().signing.kid
    claims = jwt.decode(
        token, settings.SECRET_KEY, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER
    )
    assert set(claims) == CLAIMS
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["sub"] == str(user.pk) == tokens["user"]["id"]
    assert claims["sid"] == tokens["session"]["id"]
    assert claims["roles"] == ["admin"]
    assert claims["amr"] == ["pwd"]
    assert claims["auth_time"] == claims["iat"]  # signed in just now
    assert claims["token_type"] == "access"
    assert claims["exp"] - claims["iat"] == 900 == tokens["expires_in"]
    assert abs(claims["iat"] - timezone.now().timestamp()) < 60
    assert len(claims["jti"]) >= 16
    assert payload_of(login(api, user.email)["access_token"])["jti"] != claims["jti"]


def test_access_token_lifetime_follows_the_setting(api, user):
    with secureauth_settings(ACCESS_TOKEN_LIFETIME=60):
        tokens = login(api, user.email)
    claims = payload_of(tokens["access_token"])
    assert tokens["expires_in"] == 60 == claims["exp"] - claims["iat"]


def test_hmac_publishes_no_keys(api, db):
    response = api.get("/auth/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.json() == {"keys": []}


# Asymmetric algorithms and JWKS


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "RS256"])
def test_asymmetric_algorithms_sign_verify_and_publish_jwks(api, user, algorithm):
    with secureauth_settings(ALGORITHM=algorithm, SIGNING_KEY=private_pem(algorithm)):
        tokens = login(api, user.email)
        token = tokens["access_token"]
        header = header_of(token)
        assert header["alg"] == algorithm
        assert me(api, token).status_code == 200

        response = api.get("/auth/.well-known/jwks.json")
        assert response.status_code == 200
        keys = response.json()["keys"]
        assert len(keys) == 1
        jwk = keys[0]
        assert jwk["kid"] == header["kid"]
        assert jwk["alg"] == algorithm
        assert jwk["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk), "private key material published"

        # Another service verifies with nothing but the published JWK.
        public = jwt.PyJWK(jwk).key
        claims = jwt.decode(token, public, algorithms=[algorithm], audience=AUDIENCE, issuer=ISSUER)
        assert claims["sub"] == str(user.pk)
        assert claims["sid"] == tokens["session"]["id"]


def test_signing_key_can_be_read_from_a_file(api, user, tmp_path):
    path = tmp_path / "signing.pem"
    path.write_text(private_pem("EdDSA"))
    with secureauth_settings(ALGORITHM="EdDSA", SIGNING_KEY_FILE=str(path)):
        token = login(api, user.email)["access_token"]
        assert header_of(token)["alg"] == "EdDSA"
        assert me(api, token).status_code == 200


# Key rotation


def test_tokens_of_a_retired_key_verify_while_it_is_listed(api, user):
    old = private_pem("RS256", seed=1)
    new = private_pem("ES256", seed=2)
    with secureauth_settings(ALGORITHM="RS256", SIGNING_KEY=old):
        old_token = login(api, user.email)["access_token"]
    old_kid = header_of(old_token)["kid"]

    retired = [{"kid": old_kid, "algorithm": "RS256", "key": public_pem(old)}]
    with secureauth_settings(ALGORITHM="ES256", SIGNING_KEY=new, VERIFYING_KEYS=retired):
        assert me(api, old_token).status_code == 200
        new_token = login(api, user.email)["access_token"]
        assert header_of(new_token)["kid"] != old_kid
        assert me(api, new_token).status_code == 200
        kids = {key["kid"] for key in api.get("/auth/.well-known/jwks.json").json()["keys"]}
        assert kids == {old_kid, header_of(new_token)["kid"]}

    with secureauth_settings(ALGORITHM="ES256", SIGNING_KEY=new):
        assert_refused(me(api, old_token))


def test_hmac_key_rotation_by_kid(api, user):
    old_secret = "old-hmac-secret-" + "x" * 48
    new_secret = "new-hmac-secret-" + "y" * 48
    with secureauth_settings(SIGNING_KEY=old_secret, KEY_ID="2025-01"):
        old_token = login(api, user.email)["access_token"]
    assert header_of(old_token)["kid"] == "2025-01"
    retired = [{"kid": "2025-01", "algorithm": "HS256", "key": old_secret}]
    with secureauth_settings(SIGNING_KEY=new_secret, KEY_ID="2026-01", VERIFYING_KEYS=retired):
        assert me(api, old_token).status_code == 200
        assert api.get("/auth/.well-known/jwks.json").json() == {"keys": []}
    with secureauth_settings(SIGNING_KEY=new_secret, KEY_ID="2026-01"):
        assert_refused(me(api, old_token))


def test_unknown_or_missing_kid_is_refused(api, user):
    token = login(api, user.email)["access_token"]
    claims = payload_of(token)
    unknown_kid = jwt.encode(
        claims, settings.SECRET_KEY, algorithm="HS256", headers={"kid": "unknown"}
    )
    assert_refused(me(api, unknown_kid))
    no_kid = jwt.encode(claims, settings.SECRET_KEY, algorithm="HS256")
    assert "kid" not in header_of(no_kid)
    assert_refused(me(api, no_kid))


# Forgeries


@pytest.fixture
def valid(api, user):
    """(claims, kid) of a real token of a live session, to forge variants of."""
    token = login(api, user.email)["access_token"]
    return payload_of(token), header_of(token)["kid"]


def sign_hs(claims: dict, kid: str, secret: str = settings.SECRET_KEY, alg: str = "HS256"):
    return jwt.encode(claims, secret, algorithm=alg, headers={"kid": kid})


def test_the_valid_token_itself_is_accepted(api, valid):
    claims, kid = valid
    assert me(api, sign_hs(claims, kid)).status_code == 200


@pytest.mark.parametrize("trailing", ["", "."])
def test_alg_none_is_refused(api, valid, trailing):
    claims, kid = valid
    token = unsigned_parts({"alg": "none", "typ": "JWT", "kid": kid}, claims) + trailing
    assert_refused(me(api, token))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_another_hmac_algorithm_is_refused(api, valid):
    claims, kid = valid
    assert_refused(me(api, sign_hs(claims, kid, alg="HS512")))


def test_another_asymmetric_algorithm_is_refused(api, user):
    private = private_pem("RS256")
    with secureauth_settings(ALGORITHM="RS256", SIGNING_KEY=private):
        token = login(api, user.email)["access_token"]
        kid = header_of(token)["kid"]
        forged = jwt.encode(payload_of(token), private, algorithm="RS512", headers={"kid": kid})
        assert_refused(me(api, forged))
        forged = jwt.encode(payload_of(token), private, algorithm="PS256", headers={"kid": kid})
        assert_refused(me(api, forged))


def test_algorithm_confusion_with_the_public_key_is_refused(api, user):
    private = private_pem("RS256")
    with secureauth_settings(ALGORITHM="RS256", SIGNING_KEY=private):
        token = login(api, user.email)["access_token"]
        kid = header_of(token)["kid"]
        # The attacker knows the public key (it is in the JWKS) and uses it as an HMAC secret.
        secret = public_pem(private).encode()
        signing_input = unsigned_parts(
            {"alg": "HS256", "typ": "JWT", "kid": kid}, payload_of(token)
        )
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        assert_refused(me(api, f"{signing_input}.{b64(signature)}"))


@pytest.mark.parametrize(
    "change",
    [
        {"iss": "https://evil.example"},
        {"aud": "another-service"},
        {"aud": ["another-service"]},
        {"token_type": "refresh"},
        {"token_type": "mfa"},
    ],
)
def test_wrong_claims_are_refused(api, valid, change):
    claims, kid = valid
    assert_refused(me(api, sign_hs({**claims, **change}, kid)))


@pytest.mark.parametrize("missing", sorted(CLAIMS))
def test_a_missing_claim_is_refused(api, valid, missing):
    claims, kid = valid
    forged = sign_hs({k: v for k, v in claims.items() if k != missing}, kid)
    assert_refused(me(api, forged))


def test_tampered_payload_is_refused(api, valid, make_user):
    claims, kid = valid
    token = sign_hs(claims, kid)
    header, _, signature = token.split(".")
    for change in ({"roles": ["admin"]}, {"exp": claims["exp"] + 3600}, {"amr": ["pwd", "otp"]}):
        payload = b64(json.dumps({**claims, **change}).encode())
        assert_refused(me(api, f"{header}.{payload}.{signature}"))


def test_bad_signature_is_refused(api, valid):
    claims, kid = valid
    good = sign_hs(claims, kid)
    other = sign_hs(claims, kid, secret="some-other-secret-" + "z" * 48)
    assert other != good
    assert_refused(me(api, other))
    head, payload, _ = good.split(".")
    assert_refused(me(api, f"{head}.{payload}."))
    assert_refused(me(api, f"{head}.{payload}.{b64(b'0' * 32)}"))


@pytest.mark.parametrize(
    "garbage",
    ["garbage", "a.b.c", "a.b", "....", "e30.e30.e30", b64(b"[]") + ".e30.x", "ä" * 10],
)
def test_garbage_is_refused(api, db, garbage):
    response = api.get("/auth/me/", HTTP_AUTHORIZATION=f"Bearer {garbage}")
    assert_refused(response)


@pytest.mark.parametrize("value", ["Bearer", "Bearer a b", "Bearer  "])
def test_malformed_authorization_header(api, db, value):
    response = api.get("/auth/me/", HTTP_AUTHORIZATION=value)
    assert response.status_code == 401
    assert response.json()["code"] in ("token_invalid", "not_authenticated")


def test_expired_token_is_refused_as_expired(api, user):
    tokens = login(api, user.email)
    session = Session.objects.get(pk=tokens["session"]["id"])
    token, _ = encode_access_token(
        user_id=str(user.pk),
        session_id=str(session.pk),
        roles=[],
        amr=["pwd"],
        auth_time=session.auth_time,
        now=timezone.now() - timedelta(minutes=16),
    )
    assert_refused(me(api, token), "token_expired")


def test_expired_token_with_a_bad_signature_is_invalid_not_expired(api, valid):
    claims, kid = valid
    forged = sign_hs({**claims, "exp": claims["iat"] - 10}, kid, secret="wrong-" + "k" * 58)
    assert_refused(me(api, forged))


# Other tokens used as Bearer


def test_refresh_token_is_not_an_access_token(api, user):
    tokens = login(api, user.email)
    assert_refused(me(api, tokens["refresh_token"]))


def test_mfa_token_is_not_an_access_token(api, user):
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    response = api.post("/auth/login/", {"email": user.email, "password": PASSWORD}, format="json")
    assert response.status_code == 200
    challenge = response.json()
    assert challenge["mfa_required"] is True
    assert "access_token" not in challenge
    assert_refused(me(api, challenge["mfa_token"]))
