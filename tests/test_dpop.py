"""DPoP (RFC 9449) through the HTTP API: tokens bound at sign-in and refresh, the DPoP
scheme on authenticated requests, replay, nonces, DPOP_REQUIRED, cookie mode."""

from __future__ import annotations

from unittest import mock

import jwt
import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from secureauth.models import AuditEvent, Session
from secureauth.services import dpop as dpop_service
from tests.conftest import PASSWORD, bearer, secureauth_settings
from tests.dpop_keys import DPoPKey
from tests.test_mfa import Authenticator, enable_totp
from tests.test_passkeys import add_passkey, begin_login, complete_login
from tests.test_social import URL as SOCIAL_URL
from tests.test_social import _provider_server, authorize, oidc  # noqa: F401 (fixtures)
from tests.webauthn_authenticator import SoftwareAuthenticator

BASE = "http://testserver"
LOGIN, REFRESH, ME = "/auth/login/", "/auth/refresh/", "/auth/me/"
DPOP_CHALLENGE = 'DPoP error="invalid_dpop_proof"'


def claims(tokens: dict) -> dict:
    return jwt.decode(tokens["access_token"], options={"verify_signature": False})


def post(client: APIClient, path: str, body: dict, key: DPoPKey | None = None, **headers):
    if key is not None:
        headers.setdefault("HTTP_DPOP", key.proof("POST", BASE + path))
    return client.post(path, body, format="json", **headers)


def dpop_login(client: APIClient, email: str, key: DPoPKey, **headers) -> dict:
    response = post(client, LOGIN, {"email": email, "password": PASSWORD}, key, **headers)
    assert response.status_code == 200, response.content
    return response.json()


def dpop_get(client: APIClient, path: str, tokens: dict, key: DPoPKey, **proof_args):
    token = tokens["access_token"]
    proof = key.proof("GET", BASE + path, access_token=token, **proof_args)
    return client.get(path, HTTP_AUTHORIZATION=f"DPoP {token}", HTTP_DPOP=proof)


def dpop_refresh(client: APIClient, refresh_token: str, key: DPoPKey | None, **headers):
    return post(client, REFRESH, {"refresh_token": refresh_token}, key, **headers)


def assert_resource_refusal(response, code: str = "invalid_dpop_proof") -> None:
    assert response.status_code == 401, response.content
    assert response.json()["code"] == code
    assert response["WWW-Authenticate"] == f'DPoP error="{code}"'


@pytest.fixture
def key() -> DPoPKey:
    return DPoPKey("ES256")


@pytest.fixture
def bound(api, user, key):
    """(client, token response) of a session bound to ``key``."""
    return api, dpop_login(api, user.email, key)


# -- binding at sign-in -----------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "PS256"])
def test_login_with_a_proof_binds_the_session(api, user, alg):
    key = DPoPKey(alg)
    tokens = dpop_login(api, user.email, key)
    assert tokens["token_type"] == "DPoP"
    assert claims(tokens)["cnf"] == {"jkt": key.jkt}
    assert Session.objects.get(pk=tokens["session"]["id"]).dpop_jkt == key.jkt
    event = AuditEvent.objects.filter(event="login_succeeded").latest("created_at")
    assert event.detail["dpop_jkt"] == key.jkt


def test_login_without_a_proof_is_unbound_as_before(api, user):
    response = post(api, LOGIN, {"email": user.email, "password": PASSWORD})
    tokens = response.json()
    assert tokens["token_type"] == "Bearer" and "cnf" not in claims(tokens)
    assert "dpop_jkt" not in AuditEvent.objects.get(event="login_succeeded").detail
    assert api.get(ME, **bearer(tokens)).status_code == 200
    assert "DPoP-Nonce" not in response


@pytest.mark.parametrize(
    "proof_args",
    [
        {"htu": BASE + "/auth/refresh/"},
        {"htm": "GET"},
        {"typ": "JWT"},
        {"iat": 1_000_000_000},
    ],
)
def test_login_with_a_bad_proof_is_400_and_opens_no_session(api, user, key, proof_args):
    proof = key.proof("POST", BASE + LOGIN, **proof_args)
    response = post(api, LOGIN, {"email": user.email, "password": PASSWORD}, HTTP_DPOP=proof)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_dpop_proof"
    assert "WWW-Authenticate" not in response
    assert not Session.objects.exists()


def test_several_dpop_headers_are_refused(api, user, key):
    proof = key.proof("POST", BASE + LOGIN)
    response = post(
        api, LOGIN, {"email": user.email, "password": PASSWORD}, HTTP_DPOP=f"{proof}, {proof}"
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_dpop_proof")


def test_a_sign_in_proof_is_accepted_once(api, user, key):
    proof = key.proof("POST", BASE + LOGIN)
    body = {"email": user.email, "password": PASSWORD}
    assert post(api, LOGIN, body, HTTP_DPOP=proof).status_code == 200
    replay = post(api, LOGIN, body, HTTP_DPOP=proof)
    assert (replay.status_code, replay.json()["code"]) == (400, "invalid_dpop_proof")
    assert "already used" in replay.json()["detail"]


def test_mfa_verify_binds_to_its_own_proof(api, signed_in, user, key):
    client, _ = signed_in
    phone, _ = enable_totp(client)
    challenge = post(APIClient(), LOGIN, {"email": user.email, "password": PASSWORD}, key).json()
    assert challenge["mfa_required"] is True
    body = {"mfa_token": challenge["mfa_token"], "code": phone.code()}
    response = post(api, "/auth/mfa/verify/", body, key)
    assert response.status_code == 200, response.content
    tokens = response.json()
    assert tokens["token_type"] == "DPoP" and claims(tokens)["cnf"]["jkt"] == key.jkt
    assert claims(tokens)["amr"] == ["pwd", "otp"]
    assert dpop_get(api, ME, tokens, key).status_code == 200


def test_mfa_verify_with_a_bad_proof_keeps_the_challenge(api, signed_in, user, key):
    client, _ = signed_in
    phone: Authenticator = enable_totp(client)[0]
    challenge = post(APIClient(), LOGIN, {"email": user.email, "password": PASSWORD}).json()
    body = {"mfa_token": challenge["mfa_token"], "code": phone.code()}
    bad = key.proof("POST", BASE + LOGIN)
    refused = post(api, "/auth/mfa/verify/", body, HTTP_DPOP=bad)
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_dpop_proof")
    assert post(api, "/auth/mfa/verify/", body, key).json()["token_type"] == "DPoP"


def test_passkey_login_binds_the_session(signed_in, user, key):
    client, _ = signed_in
    authenticator = SoftwareAuthenticator()
    add_passkey(client, authenticator)
    api = APIClient()  # no Bearer token: a sign-in, not a re-authentication
    begun = begin_login(api, user.email)
    credential = authenticator.get(begun["options"])
    path = "/auth/passkeys/login/complete/"
    response = api.post(
        path,
        {"challenge_id": begun["challenge_id"], "credential": credential},
        format="json",
        HTTP_DPOP=key.proof("POST", BASE + path),
    )
    assert response.status_code == 200, response.content
    tokens = response.json()
    assert tokens["token_type"] == "DPoP" and claims(tokens)["cnf"]["jkt"] == key.jkt
    # A passkey re-authentication of the bound session keeps the binding.
    begun = begin_login(api, user.email)
    token = tokens["access_token"]
    again = complete_login(
        APIClient(
            HTTP_AUTHORIZATION=f"DPoP {token}",
            HTTP_DPOP=key.proof("POST", BASE + path, access_token=token),
        ),
        begun["challenge_id"],
        authenticator.get(begun["options"]),
    )
    assert again.status_code == 200, again.content
    assert again.json()["token_type"] == "DPoP"
    assert claims(again.json())["cnf"]["jkt"] == key.jkt


def test_social_login_binds_the_session(api, db, oidc, key):  # noqa: F811
    oidc.add_user("erin", email="erin@example.com", email_verified=True)
    response = post(api, SOCIAL_URL, authorize(oidc, "erin"), key)
    assert response.status_code == 200, response.content
    tokens = response.json()
    assert tokens["token_type"] == "DPoP" and claims(tokens)["cnf"]["jkt"] == key.jkt
    event = AuditEvent.objects.filter(event="social_login").latest("created_at")
    assert event.detail["dpop_jkt"] == key.jkt
    refused = post(api, SOCIAL_URL, authorize(oidc, "erin"), HTTP_DPOP="not-a-proof")
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_dpop_proof")


def test_reauthentication_keeps_the_binding(bound, key):
    api, tokens = bound
    token = tokens["access_token"]
    path = "/auth/reauthenticate/"
    response = api.post(
        path,
        {"password": PASSWORD},
        format="json",
        HTTP_AUTHORIZATION=f"DPoP {token}",
        HTTP_DPOP=key.proof("POST", BASE + path, access_token=token),
    )
    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "DPoP"
    assert claims(response.json())["cnf"] == {"jkt": key.jkt}


# -- authenticated requests -------------------------------------------------------------


def test_bound_token_with_its_proof_is_accepted(bound, key, user):
    api, tokens = bound
    response = dpop_get(api, ME, tokens, key)
    assert response.status_code == 200, response.content
    assert response.json()["email"] == user.email


def test_dpop_request_costs_the_queries_of_a_bearer_one(api, user, bound, key):
    _, tokens = bound
    unbound = post(APIClient(), LOGIN, {"email": user.email, "password": PASSWORD}).json()
    with CaptureQueriesContext(connection) as bearer_queries:
        assert api.get(ME, **bearer(unbound)).status_code == 200
    with CaptureQueriesContext(connection) as dpop_queries:
        assert dpop_get(api, ME, tokens, key).status_code == 200
    assert len(dpop_queries) == len(bearer_queries) == 1


def test_bound_token_sent_as_bearer_is_refused(bound):
    api, tokens = bound
    assert_resource_refusal(api.get(ME, **bearer(tokens)))


def test_unbound_token_sent_as_dpop_is_refused(api, user, key):
    tokens = post(api, LOGIN, {"email": user.email, "password": PASSWORD}).json()
    assert_resource_refusal(dpop_get(api, ME, tokens, key))


def test_proof_by_another_key_is_refused(bound):
    api, tokens = bound
    assert_resource_refusal(dpop_get(api, ME, tokens, DPoPKey()))


def test_missing_proof_is_refused(bound):
    api, tokens = bound
    response = api.get(ME, HTTP_AUTHORIZATION=f"DPoP {tokens['access_token']}")
    assert_resource_refusal(response)


@pytest.mark.parametrize(
    "proof_args",
    [
        {"htm": "POST"},
        {"htu": BASE + "/auth/sessions/"},
        {"htu": "https://testserver/auth/me/"},
        {"ath": None},
        {"ath": "x" * 43},
        {"iat": 1_000_000_000},
    ],
)
def test_proof_must_match_the_request_and_token(bound, key, proof_args):
    api, tokens = bound
    assert_resource_refusal(dpop_get(api, ME, tokens, key, **proof_args))


def test_proof_for_another_token_is_refused(api, user, key):
    first, second = dpop_login(api, user.email, key), dpop_login(api, user.email, key)
    token = first["access_token"]
    proof = key.proof("GET", BASE + ME, access_token=second["access_token"])
    response = api.get(ME, HTTP_AUTHORIZATION=f"DPoP {token}", HTTP_DPOP=proof)
    assert_resource_refusal(response)


def test_a_request_proof_is_accepted_once(bound, key):
    api, tokens = bound
    token = tokens["access_token"]
    headers = {
        "HTTP_AUTHORIZATION": f"DPoP {token}",
        "HTTP_DPOP": key.proof("GET", BASE + ME, access_token=token),
    }
    assert api.get(ME, **headers).status_code == 200
    assert_resource_refusal(api.get(ME, **headers))
    assert dpop_get(api, ME, tokens, key).status_code == 200  # a fresh proof is fine


def test_query_string_is_not_part_of_htu(bound, key):
    api, tokens = bound
    token = tokens["access_token"]
    proof = key.proof("GET", BASE + "/auth/audit/", access_token=token)
    response = api.get("/auth/audit/?page=1", HTTP_AUTHORIZATION=f"DPoP {token}", HTTP_DPOP=proof)
    assert response.status_code == 200, response.content


@override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_htu_is_the_url_the_client_called_behind_a_tls_proxy(bound, key):
    api, tokens = bound
    token = tokens["access_token"]
    headers = {
        "HTTP_AUTHORIZATION": f"DPoP {token}",
        "HTTP_HOST": "auth.example.com",
        "HTTP_X_FORWARDED_PROTO": "https",
    }
    http_proof = key.proof("GET", "http://auth.example.com/auth/me/", access_token=token)
    assert_resource_refusal(api.get(ME, HTTP_DPOP=http_proof, **headers))
    https_proof = key.proof("GET", "https://auth.example.com/auth/me/", access_token=token)
    response = api.get(ME, HTTP_DPOP=https_proof, **headers)
    assert response.status_code == 200, response.content


def test_token_errors_keep_the_bearer_challenge(api, key):
    response = api.get(ME, HTTP_AUTHORIZATION="DPoP not-a-jwt", HTTP_DPOP="x")
    assert (response.status_code, response.json()["code"]) == (401, "token_invalid")
    assert response["WWW-Authenticate"] == "Bearer"
    response = api.get(ME)
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Bearer"


def test_revoked_session_is_seen_through_dpop_too(bound, key):
    api, tokens = bound
    Session.objects.filter(pk=tokens["session"]["id"]).revoke("admin")
    response = dpop_get(api, ME, tokens, key)
    assert (response.status_code, response.json()["code"]) == (401, "session_revoked")


def test_replay_cache_outage_refuses_the_request(bound, key):
    api, tokens = bound
    broken = mock.Mock()
    broken.add.side_effect = ConnectionError("cache down")
    with mock.patch.object(dpop_service, "caches", {"default": broken}):
        response = dpop_get(api, ME, tokens, key)
    assert (response.status_code, response.json()["code"]) == (503, "service_unavailable")


# -- refresh ----------------------------------------------------------------------------


def test_refresh_with_the_key_keeps_the_binding(bound, key):
    api, tokens = bound
    response = dpop_refresh(api, tokens["refresh_token"], key)
    assert response.status_code == 200, response.content
    refreshed = response.json()
    assert refreshed["token_type"] == "DPoP" and claims(refreshed)["cnf"]["jkt"] == key.jkt
    assert dpop_get(api, ME, refreshed, key).status_code == 200


@pytest.mark.parametrize("presented", ["none", "other key", "bad proof"])
def test_refresh_without_the_key_is_refused_and_the_session_stays_usable(bound, key, presented):
    api, tokens = bound
    headers = {}
    if presented == "other key":
        headers["HTTP_DPOP"] = DPoPKey().proof("POST", BASE + REFRESH)
    elif presented == "bad proof":
        headers["HTTP_DPOP"] = key.proof("POST", BASE + LOGIN)
    for _ in range(2):  # refused again and again, never taken for reuse
        response = dpop_refresh(api, tokens["refresh_token"], None, **headers)
        assert (response.status_code, response.json()["code"]) == (400, "invalid_dpop_proof")
    session = Session.objects.get(pk=tokens["session"]["id"])
    assert session.revoked_at is None
    assert not AuditEvent.objects.filter(event="refresh_token_reused").exists()
    assert dpop_get(api, ME, tokens, key).status_code == 200
    assert dpop_refresh(api, tokens["refresh_token"], key).status_code == 200


def test_refreshing_an_unbound_session_with_a_proof_binds_it(api, user, key):
    tokens = post(api, LOGIN, {"email": user.email, "password": PASSWORD}).json()
    refreshed = dpop_refresh(api, tokens["refresh_token"], key).json()
    assert refreshed["token_type"] == "DPoP" and claims(refreshed)["cnf"]["jkt"] == key.jkt
    next_response = dpop_refresh(api, refreshed["refresh_token"], None)
    assert next_response.status_code == 400
    assert dpop_refresh(api, refreshed["refresh_token"], key).status_code == 200


def test_grace_window_retry_after_the_first_refresh_bound_the_session(api, user, key):
    tokens = post(api, LOGIN, {"email": user.email, "password": PASSWORD}).json()
    first = dpop_refresh(api, tokens["refresh_token"], key).json()  # binds the session
    refused = dpop_refresh(api, tokens["refresh_token"], None)
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_dpop_proof")
    retry = dpop_refresh(api, tokens["refresh_token"], key).json()
    assert retry["refresh_token"] == first["refresh_token"]
    assert retry["token_type"] == "DPoP" and claims(retry)["cnf"]["jkt"] == key.jkt


def test_grace_window_retry_needs_the_key_too(bound, key):
    api, tokens = bound
    first = dpop_refresh(api, tokens["refresh_token"], key).json()
    assert dpop_refresh(api, tokens["refresh_token"], None).status_code == 400
    retry = dpop_refresh(api, tokens["refresh_token"], key).json()
    assert retry["refresh_token"] == first["refresh_token"]


# -- cookie mode ------------------------------------------------------------------------


def test_cookie_mode_with_dpop(api, user, key):
    cookie = {"HTTP_X_SECUREAUTH_COOKIE": "1"}
    tokens = dpop_login(api, user.email, key, **cookie)
    assert "refresh_token" not in tokens and tokens["token_type"] == "DPoP"
    refused = post(api, REFRESH, {}, None, **cookie)
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_dpop_proof")
    refused = post(api, REFRESH, {}, DPoPKey(), **cookie)
    assert refused.status_code == 400
    response = post(api, REFRESH, {}, key, **cookie)
    assert response.status_code == 200, response.content
    refreshed = response.json()
    assert refreshed["token_type"] == "DPoP" and "refresh_token" not in refreshed
    assert dpop_get(api, ME, refreshed, key).status_code == 200


# -- DPOP_REQUIRED ----------------------------------------------------------------------


def test_required_refuses_sign_ins_without_a_proof(api, user, key):
    with secureauth_settings(DPOP_REQUIRED=True):
        response = post(api, LOGIN, {"email": user.email, "password": PASSWORD})
        assert (response.status_code, response.json()["code"]) == (400, "invalid")
        assert not Session.objects.exists()
        tokens = dpop_login(api, user.email, key)
        assert tokens["token_type"] == "DPoP"
        refused = dpop_refresh(api, tokens["refresh_token"], None)
        assert refused.status_code == 400
        assert dpop_refresh(api, tokens["refresh_token"], key).status_code == 200


def test_allowed_algorithms_follow_the_setting(api, user):
    with secureauth_settings(DPOP_ALGORITHMS=["EdDSA"]):
        response = post(api, LOGIN, {"email": user.email, "password": PASSWORD}, DPoPKey())
        assert (response.status_code, response.json()["code"]) == (400, "invalid_dpop_proof")
        assert dpop_login(api, user.email, DPoPKey("EdDSA"))["token_type"] == "DPoP"


def test_proof_max_age_follows_the_setting(api, user, key):
    import time

    with secureauth_settings(DPOP_PROOF_MAX_AGE=30):
        old = key.proof("POST", BASE + LOGIN, iat=int(time.time()) - 60)
        response = post(api, LOGIN, {"email": user.email, "password": PASSWORD}, HTTP_DPOP=old)
        assert response.status_code == 400
        assert dpop_service.proof_window_seconds() == 36


# -- server nonces ----------------------------------------------------------------------


def test_nonce_at_sign_in(api, user, key):
    body = {"email": user.email, "password": PASSWORD}
    with secureauth_settings(DPOP_NONCE=True):
        first = post(api, LOGIN, body, key)
        assert (first.status_code, first.json()["code"]) == (400, "use_dpop_nonce")
        nonce = first["DPoP-Nonce"]
        wrong = post(api, LOGIN, body, HTTP_DPOP=key.proof("POST", BASE + LOGIN, nonce="x"))
        assert wrong.json()["code"] == "use_dpop_nonce"
        proof = key.proof("POST", BASE + LOGIN, nonce=nonce)
        response = post(api, LOGIN, body, HTTP_DPOP=proof)
        assert response.status_code == 200, response.content
        assert response["DPoP-Nonce"] == nonce
        tokens = response.json()

        refused = dpop_get(api, ME, tokens, key)
        assert_resource_refusal(refused, "use_dpop_nonce")
        assert refused["DPoP-Nonce"] == nonce
        assert dpop_get(api, ME, tokens, key, nonce=nonce).status_code == 200


def test_nonces_rotate_and_the_previous_one_stays_valid(settings):
    with secureauth_settings(DPOP_NONCE=True, DPOP_NONCE_LIFETIME=60):
        now = 1_800_000_000.0
        current = dpop_service.current_nonce(now)
        assert dpop_service.current_nonce(now + 59.0 - now % 60) == current
        later = dpop_service.current_nonce(now + 60)
        assert later != current
        assert current in dpop_service.accepted_nonces(now + 60)
        assert current not in dpop_service.accepted_nonces(now + 120)
    assert dpop_service.current_nonce(now) is None


# -- system checks ----------------------------------------------------------------------


def test_system_check_of_the_dpop_settings(settings):
    from secureauth.checks import check_dpop_settings

    assert check_dpop_settings(None) == []
    with secureauth_settings(DPOP_ALGORITHMS=["ES256", "HS256"]):
        assert [m.id for m in check_dpop_settings(None)] == ["secureauth.E080"]
    with secureauth_settings(DPOP_ALGORITHMS=[]):
        assert [m.id for m in check_dpop_settings(None)] == ["secureauth.E080"]
    with secureauth_settings(DPOP_CACHE="nowhere"):
        assert [m.id for m in check_dpop_settings(None)] == ["secureauth.E080"]
    settings.CACHES = {
        **settings.CACHES,
        "dummy": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
    }
    with secureauth_settings(DPOP_CACHE="dummy"):
        assert [m.id for m in check_dpop_settings(None)] == ["secureauth.W080"]


def test_an_email_sign_in_link_confirmed_with_a_proof_binds_the_session(api, user, key):
    from tests.test_magic_link import new_token

    token = new_token(api, user.email)
    response = post(api, "/auth/magic-link/confirm/", {"token": token}, key)
    assert response.status_code == 200, response.content
    tokens = response.json()
    assert tokens["token_type"] == "DPoP"
    assert claims(tokens)["cnf"] == {"jkt": key.jkt}
    assert claims(tokens)["amr"] == ["email"]
    assert dpop_get(api, ME, tokens, key).status_code == 200
    assert_resource_refusal(api.get(ME, **bearer(tokens)))
    bad = post(api, "/auth/magic-link/confirm/", {"token": new_token(api, user.email)})
    assert bad.status_code == 200  # no proof: an unbound session, as before
    broken = post(
        api,
        "/auth/magic-link/confirm/",
        {"token": new_token(api, user.email)},
        HTTP_DPOP="not-a-proof",
    )
    assert (broken.status_code, broken.json()["code"]) == (400, "invalid_dpop_proof")
