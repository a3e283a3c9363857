# ruff: noqa: F811  (the provider fixtures are imported from test_social and used as arguments)
"""Re-authentication (RFC 9470) through the HTTP API: ``auth_time`` in access tokens,
sensitive endpoints refusing a token whose ``auth_time`` is too old, ``reauthenticate/``
with a password, a TOTP code or a recovery code, and passkey re-authentication through
``passkeys/login/`` sent with a Bearer token."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import jwt
import pyotp
import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient
from social_django.models import UserSocialAuth

from secureauth.models import AuditEvent, Passkey, Session
from tests.conftest import (
    PASSWORD,
    bearer,
    login,
    postgres_only,
    refresh,
    run_in_threads,
    secureauth_settings,
    stale_tokens,
)
from tests.test_mfa import enable_totp
from tests.test_passkeys import add_passkey, begin_login, begin_registration, complete_login
from tests.test_social import URL as SOCIAL_URL
from tests.test_social import _provider_server, authorize, oidc  # noqa: F401
from tests.webauthn_authenticator import SoftwareAuthenticator

URL = "/auth/reauthenticate/"
CHALLENGE = 'Bearer error="insufficient_user_authentication", max_age=300'
REAUTH_FIELDS = {"access_token", "token_type", "expires_in", "auth_time"}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def claims(tokens: dict) -> dict:
    return jwt.decode(tokens["access_token"], options={"verify_signature": False})


def reauthenticate(client: APIClient, tokens: dict, **proof):
    """POST reauthenticate/ with ``tokens``' access token (which the client keeps using:
    APIClient's credentials win over a header passed per request)."""
    client.credentials(**bearer(tokens))
    return client.post(URL, proof, format="json")


def client_for(tokens: dict) -> APIClient:
    client = APIClient()
    client.credentials(**bearer(tokens))
    return client


def assert_reauthentication_required(response) -> None:
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "reauthentication_required"
    assert response["WWW-Authenticate"] == CHALLENGE


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture(autouse=True)
def _no_device_throttle(settings):
    """django-otp's per-device backoff would turn a replayed code into a wait (429)."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


@pytest.fixture
def admin(make_user):
    """A verified administrator with a passkey, signed in, and another (signed-in)
    account to act on: (client, fresh tokens, passkey id, target user)."""
    caller = make_user("root@example.com", roles=["admin"], verified=True)
    client = APIClient()
    tokens = login(client, caller.email)
    client.credentials(**bearer(tokens))
    passkey = add_passkey(client, SoftwareAuthenticator(), "Laptop")
    target = make_user("target@example.com", verified=True)
    login(APIClient(), target.email)
    return client, tokens, passkey["id"], target


# --- auth_time in access tokens ------------------------------------------------------


def test_access_token_carries_auth_time_of_the_sign_in(api, user):
    tokens = login(api, user.email)
    token = claims(tokens)
    assert token["auth_time"] == token["iat"]
    session = Session.objects.get(pk=tokens["session"]["id"])
    assert token["auth_time"] == int(session.auth_time.timestamp())


def test_refresh_keeps_auth_time(api, user):
    tokens = login(api, user.email)
    signed_in_at = claims(tokens)["auth_time"]
    time.sleep(1.05)  # a later iat
    refreshed = refresh(api, tokens["refresh_token"]).json()
    assert claims(refreshed)["iat"] > signed_in_at
    assert claims(refreshed)["auth_time"] == signed_in_at
    again = refresh(api, refreshed["refresh_token"]).json()
    assert claims(again)["auth_time"] == signed_in_at


def test_stale_tokens_are_valid_but_old(api, user):
    tokens = stale_tokens(api, login(api, user.email))
    token = claims(tokens)
    assert time.time() - token["auth_time"] > 300
    assert token["iat"] - token["auth_time"] > 300
    assert api.get("/auth/me/", **bearer(tokens)).status_code == 200


# --- sensitive endpoints ----------------------------------------------------------------

#: (method, path, body, status with a fresh token): every operation that needs a
#: recent proof. {passkey} and {target} are filled in from the ``admin`` fixture.
SENSITIVE = [
    ("post", "/auth/passkeys/register/begin/", None, 200),
    ("post", "/auth/passkeys/register/complete/", {"credential": {"id": "x"}}, 400),
    ("post", "/auth/mfa/totp/setup/", None, 200),
    ("post", "/auth/mfa/totp/confirm/", {"code": "123456"}, 409),  # no setup pending
    ("post", "/auth/social/oidc/connect/", {}, 400),
    ("delete", "/auth/social/connections/999999/", None, 404),
    ("post", "/auth/users/{target}/roles/", {"roles": ["staff"]}, 200),
    ("post", "/auth/users/{target}/revoke-sessions/", None, 204),
    ("delete", "/auth/passkeys/{passkey}/", None, 204),
]
SENSITIVE_IDS = [f"{m} {p}" for m, p, _, _ in SENSITIVE]


def call(client: APIClient, method: str, path: str, body, passkey: str, target) -> object:
    url = path.format(passkey=passkey, target=target.pk)
    return getattr(client, method)(url, body, format="json")


@pytest.mark.parametrize(("method", "path", "body", "fresh_status"), SENSITIVE, ids=SENSITIVE_IDS)
def test_sensitive_endpoint_refuses_a_stale_token(admin, method, path, body, fresh_status):
    client, tokens, passkey, target = admin
    client.credentials(**bearer(stale_tokens(client, tokens)))
    events = AuditEvent.objects.count()
    response = call(client, method, path, body, passkey, target)
    assert_reauthentication_required(response)
    # Refused before anything happened.
    assert AuditEvent.objects.count() == events
    assert Passkey.objects.filter(pk=passkey).exists()
    assert not target.groups.exists()
    assert Session.objects.filter(user=target, revoked_at__isnull=True).exists()
    assert not TOTPDevice.objects.exists()


@pytest.mark.parametrize(("method", "path", "body", "fresh_status"), SENSITIVE, ids=SENSITIVE_IDS)
def test_sensitive_endpoint_accepts_a_fresh_token(admin, method, path, body, fresh_status):
    client, _, passkey, target = admin
    response = call(client, method, path, body, passkey, target)
    assert response.status_code == fresh_status, response.content
    if response.status_code == 401:
        assert response.json()["code"] != "reauthentication_required"


def test_social_connect_and_unlink_with_a_stale_token(signed_in, oidc):
    """Refused before the provider is contacted, and an identity stays linked."""
    client, tokens = signed_in
    oidc.add_user("alice-work", email="alice@work.example", email_verified=True)
    linked = client.post(SOCIAL_URL + "connect/", authorize(oidc, "alice-work"), format="json")
    assert linked.status_code == 201, linked.content
    oidc.add_user("alice-home", email="alice@home.example", email_verified=True)
    body = authorize(oidc, "alice-home")
    requests_before = len(oidc.token_requests)

    client.credentials(**bearer(stale_tokens(client, tokens)))
    assert_reauthentication_required(client.post(SOCIAL_URL + "connect/", body, format="json"))
    assert len(oidc.token_requests) == requests_before
    unlink = client.delete(f"/auth/social/connections/{linked.json()['id']}/")
    assert_reauthentication_required(unlink)
    assert UserSocialAuth.objects.filter(pk=linked.json()["id"]).exists()
    assert UserSocialAuth.objects.count() == 1


def test_a_token_just_inside_max_age_passes_and_just_outside_fails(api, user):
    tokens = login(api, user.email)
    session = Session.objects.filter(pk=tokens["session"]["id"])
    session.update(auth_time=timezone.now() - timedelta(seconds=280))
    inside = refresh(api, tokens["refresh_token"]).json()
    assert api.post("/auth/mfa/totp/setup/", **bearer(inside)).status_code == 200
    session.update(auth_time=timezone.now() - timedelta(seconds=320))
    outside = refresh(api, inside["refresh_token"]).json()
    assert_reauthentication_required(api.post("/auth/mfa/totp/setup/", **bearer(outside)))


def test_stale_token_still_serves_ordinary_endpoints(api, user):
    tokens = stale_tokens(api, login(api, user.email))
    assert api.get("/auth/me/", **bearer(tokens)).status_code == 200
    assert api.get("/auth/sessions/", **bearer(tokens)).status_code == 200
    assert api.get("/auth/passkeys/", **bearer(tokens)).status_code == 200
    assert api.get("/auth/social/connections/", **bearer(tokens)).status_code == 200


def test_max_age_follows_the_setting(api, user):
    tokens = stale_tokens(api, login(api, user.email))  # auth_time ~6 minutes ago
    with secureauth_settings(REAUTH_MAX_AGE=timedelta(seconds=120)):
        response = api.post("/auth/mfa/totp/setup/", **bearer(tokens))
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == (
            'Bearer error="insufficient_user_authentication", max_age=120'
        )
    with secureauth_settings(REAUTH_MAX_AGE=timedelta(hours=1)):
        assert api.post("/auth/mfa/totp/setup/", **bearer(tokens)).status_code == 200


# --- endpoints that take their own proof ------------------------------------------------


def test_recovery_codes_with_a_current_code_work_with_a_stale_token(signed_in):
    client, tokens = signed_in
    phone, old_codes = enable_totp(client)
    client.credentials(**bearer(stale_tokens(client, tokens)))
    wrong = client.post("/auth/mfa/recovery-codes/", {"code": "000000"}, format="json")
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "mfa_invalid"
    response = client.post("/auth/mfa/recovery-codes/", {"code": phone.code()}, format="json")
    assert response.status_code == 200, response.content
    assert set(response.json()["recovery_codes"]).isdisjoint(old_codes)


def test_disable_with_password_and_code_works_with_a_stale_token(signed_in):
    client, tokens = signed_in
    phone, _ = enable_totp(client)
    client.credentials(**bearer(stale_tokens(client, tokens)))
    body = {"password": PASSWORD, "code": phone.code()}
    response = client.post("/auth/mfa/disable/", body, format="json")
    assert response.status_code == 204, response.content
    assert client.get("/auth/me/").json()["mfa_enabled"] is False


def test_passkey_removal_with_the_password_works_with_a_stale_token(admin):
    client, tokens, passkey, _ = admin
    client.credentials(**bearer(stale_tokens(client, tokens)))
    url = f"/auth/passkeys/{passkey}/"
    assert_reauthentication_required(client.delete(url, format="json"))
    wrong = client.delete(url, {"password": "not the password"}, format="json")
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "invalid_credentials"
    assert client.delete(url, {"password": PASSWORD}, format="json").status_code == 204
    assert not Passkey.objects.filter(pk=passkey).exists()


# --- the attack of the issue: a stolen, old access token ------------------------------


def test_a_stolen_stale_token_cannot_add_a_passkey(api, user):
    owner = APIClient()
    owner_tokens = login(owner, user.email)
    # The attacker holds a valid access token of an old session (refreshed, so unexpired).
    stolen = stale_tokens(api, login(api, user.email))
    thief = APIClient()
    thief.credentials(**bearer(stolen))
    assert_reauthentication_required(thief.post("/auth/passkeys/register/begin/"))
    # Not even by finishing a ceremony begun while the session was fresh.
    fresh = login(thief, user.email)
    thief.credentials(**bearer(fresh))
    credential = SoftwareAuthenticator().create(begin_registration(thief))
    thief.credentials(**bearer(stale_tokens(thief, fresh)))
    response = thief.post(
        "/auth/passkeys/register/complete/", {"credential": credential}, format="json"
    )
    assert_reauthentication_required(response)
    assert not Passkey.objects.exists()
    assert owner.get("/auth/me/", **bearer(owner_tokens)).status_code == 200


def test_a_stolen_stale_token_cannot_enable_totp(api, user):
    stolen = stale_tokens(api, login(api, user.email))
    thief = APIClient()
    thief.credentials(**bearer(stolen))
    assert_reauthentication_required(thief.post("/auth/mfa/totp/setup/"))
    assert_reauthentication_required(
        thief.post("/auth/mfa/totp/confirm/", {"code": "123456"}, format="json")
    )
    # A setup begun while fresh cannot be confirmed once the token is old.
    fresh = login(thief, user.email)
    thief.credentials(**bearer(fresh))
    secret = thief.post("/auth/mfa/totp/setup/").json()["secret"]
    thief.credentials(**bearer(stale_tokens(thief, fresh)))
    response = thief.post(
        "/auth/mfa/totp/confirm/", {"code": pyotp.TOTP(secret).now()}, format="json"
    )
    assert_reauthentication_required(response)
    assert not TOTPDevice.objects.filter(confirmed=True).exists()
    assert thief.get("/auth/me/").json()["mfa_enabled"] is False
    # Nor guess the password on reauthenticate/ for long (see the limiter tests below).


# --- reauthenticate/ --------------------------------------------------------------------


def test_reauthenticate_with_the_password(api, user):
    tokens = stale_tokens(api, login(api, user.email))
    old = claims(tokens)
    sessions = Session.objects.count()
    assert_reauthentication_required(api.post("/auth/mfa/totp/setup/", **bearer(tokens)))

    before = time.time()
    response = reauthenticate(api, tokens, password=PASSWORD)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == REAUTH_FIELDS
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert ISO_Z.match(body["auth_time"]), body["auth_time"]
    auth_time = parse_time(body["auth_time"])
    assert auth_time.tzinfo is not None
    assert before - 1 <= auth_time.timestamp() <= time.time() + 1

    new = claims(body)
    assert new["sid"] == old["sid"] == tokens["session"]["id"]
    assert new["sub"] == old["sub"] == str(user.pk)
    assert new["amr"] == old["amr"] == ["pwd"]
    assert new["auth_time"] == int(auth_time.timestamp()) > old["auth_time"]
    assert new["exp"] - new["iat"] == 900
    assert Session.objects.count() == sessions  # the same session, no new one

    # The new token passes a sensitive endpoint; the old one still does not.
    assert client_for(body).post("/auth/mfa/totp/setup/").status_code == 200
    assert_reauthentication_required(client_for(tokens).post("/auth/mfa/totp/setup/"))

    event = AuditEvent.objects.get(event="reauthenticated")
    assert event.user_id == user.pk
    assert str(event.session_id) == tokens["session"]["id"]
    assert event.detail["method"] == "pwd"


def test_refresh_after_reauthentication_carries_the_new_auth_time(api, user):
    tokens = stale_tokens(api, login(api, user.email))
    body = reauthenticate(api, tokens, password=PASSWORD).json()
    refreshed = refresh(api, tokens["refresh_token"]).json()
    assert claims(refreshed)["auth_time"] == claims(body)["auth_time"]
    assert client_for(refreshed).post("/auth/mfa/totp/setup/").status_code == 200


def test_reauthenticate_renews_only_the_callers_session(api, user):
    mine = stale_tokens(api, login(api, user.email))
    other = APIClient()
    theirs = stale_tokens(other, login(other, user.email))
    assert reauthenticate(api, mine, password=PASSWORD).status_code == 200
    refreshed = refresh(other, theirs["refresh_token"]).json()
    assert_reauthentication_required(other.post("/auth/mfa/totp/setup/", **bearer(refreshed)))


def test_reauthenticate_with_a_wrong_password(api, user):
    tokens = stale_tokens(api, login(api, user.email))
    response = reauthenticate(api, tokens, password="not the password")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_credentials"
    assert "WWW-Authenticate" not in response
    assert not AuditEvent.objects.filter(event="reauthenticated").exists()
    # The session itself is untouched.
    assert client_for(tokens).get("/auth/me/").status_code == 200


def test_wrong_passwords_count_toward_the_login_limiter(api, user):
    tokens = login(api, user.email)
    for _ in range(5):
        response = reauthenticate(api, tokens, password="not the password")
        assert response.status_code == 400, response.content
    locked = reauthenticate(api, tokens, password="not the password")
    assert locked.status_code == 429
    assert locked.json()["code"] == "rate_limited"
    assert int(locked["Retry-After"]) > 0
    # Locked means locked: the right password too, here and on login/.
    assert reauthenticate(api, tokens, password=PASSWORD).status_code == 429
    signin = api.post("/auth/login/", {"email": user.email, "password": PASSWORD}, format="json")
    assert signin.status_code == 429
    assert signin.json()["code"] == "rate_limited"
    assert AuditEvent.objects.filter(event="login_rate_limited", user=user).count() == 1


def test_reauthenticate_with_a_totp_code(signed_in, user):
    client, tokens = signed_in
    phone, _ = enable_totp(client)
    tokens = stale_tokens(client, tokens)
    code = phone.code()
    response = reauthenticate(client, tokens, code=code)
    assert response.status_code == 200, response.content
    assert set(response.json()) == REAUTH_FIELDS
    assert claims(response.json())["sid"] == tokens["session"]["id"]
    assert AuditEvent.objects.get(event="reauthenticated").detail["method"] == "totp"
    # A code is accepted once.
    replay = reauthenticate(client, tokens, code=code)
    assert replay.status_code == 401
    assert replay.json()["code"] == "mfa_invalid"
    assert AuditEvent.objects.filter(event="reauthenticated").count() == 1
    # The password still works for a TOTP user.
    assert reauthenticate(client, tokens, password=PASSWORD).status_code == 200


def test_reauthenticate_with_a_recovery_code_works_once(signed_in, user):
    client, tokens = signed_in
    _, codes = enable_totp(client)
    tokens = stale_tokens(client, tokens)
    response = reauthenticate(client, tokens, recovery_code=codes[0].upper())
    assert response.status_code == 200, response.content
    assert AuditEvent.objects.get(event="reauthenticated").detail["method"] == "recovery_code"
    again = reauthenticate(client, tokens, recovery_code=codes[0])
    assert again.status_code == 401
    assert again.json()["code"] == "mfa_invalid"
    assert reauthenticate(client, tokens, recovery_code=codes[1]).status_code == 200


def test_wrong_codes_count_toward_the_login_limiter(signed_in, user):
    client, tokens = signed_in
    phone, _ = enable_totp(client)
    for _ in range(5):
        response = reauthenticate(client, tokens, code="000000")
        assert response.status_code == 401, response.content
        assert response.json()["code"] == "mfa_invalid"
    locked = reauthenticate(client, tokens, code=phone.code())
    assert locked.status_code == 429
    assert locked.json()["code"] == "rate_limited"
    signin = APIClient().post(
        "/auth/login/", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert signin.status_code == 429
    assert AuditEvent.objects.filter(event="login_rate_limited", user=user).count() == 1
    assert AuditEvent.objects.filter(event="mfa_failed", user=user).count() == 5


@pytest.mark.parametrize("proof", [{"code": "123456"}, {"recovery_code": "abcd-efgh-ijkl"}])
def test_a_code_for_a_user_without_totp_is_a_conflict(signed_in, proof):
    client, tokens = signed_in
    response = reauthenticate(client, tokens, **proof)
    assert response.status_code == 409
    assert response.json()["code"] == "invalid"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"password": ""},
        {"password": PASSWORD, "code": "123456"},
        {"password": PASSWORD, "recovery_code": "abcd"},
        {"code": "123456", "recovery_code": "abcd"},
        {"code": "12ab56"},
        {"password": ["x"]},
    ],
)
def test_reauthenticate_validates_the_body(signed_in, body):
    client, tokens = signed_in
    response = client.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    # Field errors (a list, even under the field name "code"), never a machine code.
    assert isinstance(body.get("code", []), list) or body["code"] == "invalid"
    assert not AuditEvent.objects.filter(event="reauthenticated").exists()


def test_a_malformed_code_is_a_field_error_of_code(signed_in):
    client, _ = signed_in
    response = client.post(URL, {"code": "12ab56"}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["code"]


def test_reauthenticate_needs_a_bearer_token(api, user):
    response = api.post(URL, {"password": PASSWORD}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Bearer"
    bad = api.post(URL, {"password": PASSWORD}, format="json", HTTP_AUTHORIZATION="Bearer x.y.z")
    assert bad.status_code == 401
    assert bad.json()["code"] == "token_invalid"


def test_reauthenticate_of_a_revoked_session_is_refused(api, user):
    tokens = login(api, user.email)
    assert api.post("/auth/logout/", **bearer(tokens)).status_code == 204
    response = reauthenticate(api, tokens, password=PASSWORD)
    assert response.status_code == 401
    assert response.json()["code"] == "session_revoked"


# --- passkey re-authentication ------------------------------------------------------


@pytest.fixture
def passkey_user(user):
    """(client with a stale Bearer token, its tokens, the authenticator)."""
    client = APIClient()
    tokens = login(client, user.email)
    client.credentials(**bearer(tokens))
    authenticator = SoftwareAuthenticator()
    add_passkey(client, authenticator, "Laptop")
    tokens = stale_tokens(client, tokens)
    client.credentials(**bearer(tokens))
    return client, tokens, authenticator


def test_passkey_reauthentication_with_a_bearer_token(passkey_user, user):
    client, tokens, authenticator = passkey_user
    sessions = Session.objects.count()
    old = claims(tokens)
    assert_reauthentication_required(client.post("/auth/mfa/totp/setup/"))

    begun = begin_login(client)
    response = complete_login(client, begun["challenge_id"], authenticator.get(begun["options"]))
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == REAUTH_FIELDS  # no refresh_token, no session, no user
    assert body["token_type"] == "Bearer"
    assert ISO_Z.match(body["auth_time"])
    new = claims(body)
    assert new["sid"] == old["sid"]
    assert new["auth_time"] > old["auth_time"]
    assert abs(new["auth_time"] - time.time()) < 5
    assert Session.objects.count() == sessions
    event = AuditEvent.objects.get(event="reauthenticated")
    assert str(event.session_id) == old["sid"]
    assert event.detail["method"] in ("hwk", "swk")
    assert AuditEvent.objects.filter(event="login_succeeded").count() == 1  # no new sign-in
    client.credentials(**bearer(body))
    assert client.post("/auth/mfa/totp/setup/").status_code == 200


def test_passkey_of_another_user_cannot_reauthenticate_me(passkey_user, make_user):
    client, tokens, _ = passkey_user
    bob = make_user("bob@example.com", verified=True)
    bob_client = APIClient()
    bob_client.credentials(**bearer(login(bob_client, bob.email)))
    bobs_key = SoftwareAuthenticator()
    add_passkey(bob_client, bobs_key)

    # A challenge begun with my token is restricted to my passkeys...
    begun = begin_login(client)
    response = complete_login(client, begun["challenge_id"], bobs_key.get(begun["options"]))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    # ...and one begun without a token cannot renew my session with Bob's passkey.
    anonymous = begin_login(APIClient())
    response = complete_login(client, anonymous["challenge_id"], bobs_key.get(anonymous["options"]))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert not AuditEvent.objects.filter(event="reauthenticated").exists()
    assert_reauthentication_required(client.post("/auth/mfa/totp/setup/"))
    assert Session.objects.filter(user=bob).count() == 1


def test_passkey_reauthentication_with_an_invalid_bearer_token(passkey_user):
    _, _, authenticator = passkey_user
    sessions = Session.objects.count()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = client.post("/auth/passkeys/login/begin/", {}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"
    begun = begin_login(APIClient())
    response = complete_login(client, begun["challenge_id"], authenticator.get(begun["options"]))
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"
    assert Session.objects.count() == sessions


def test_passkey_reauthentication_with_a_revoked_session(passkey_user):
    client, tokens, authenticator = passkey_user
    begun = begin_login(client)
    assert client.post("/auth/logout/").status_code == 204
    response = complete_login(client, begun["challenge_id"], authenticator.get(begun["options"]))
    assert response.status_code == 401
    assert response.json()["code"] == "session_revoked"


def test_passkey_login_without_a_bearer_token_still_signs_in(passkey_user, user):
    _, _, authenticator = passkey_user
    api = APIClient()
    begun = begin_login(api)
    response = complete_login(api, begun["challenge_id"], authenticator.get(begun["options"]))
    assert response.status_code == 200
    assert "refresh_token" in response.json()
    assert claims(response.json())["auth_time"] == claims(response.json())["iat"]


def test_auth_time_of_the_response_is_utc(api, user):
    tokens = stale_tokens(api, login(api, user.email))
    body = reauthenticate(api, tokens, password=PASSWORD).json()
    assert parse_time(body["auth_time"]).utcoffset() == UTC.utcoffset(None)


def test_admin_role_is_still_needed_after_reauthentication(api, make_user):
    caller = make_user(verified=True)
    target = make_user()
    tokens = login(api, caller.email)
    fresh = reauthenticate(api, tokens, password=PASSWORD).json()
    response = client_for(fresh).post(
        f"/auth/users/{target.pk}/roles/", {"roles": ["admin"]}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not Group.objects.filter(user=target).exists()


# --- at the same moment -------------------------------------------------------------


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_one_totp_code_on_parallel_reauthentications_is_accepted_once(make_user):
    """Four requests (fewer than the limiter's allowance, so none is refused as too many
    at once) carry the same code: one renews the session, the others are refused."""
    user = make_user("racer@example.com", verified=True)
    client = APIClient()
    tokens = login(client, user.email)
    client.credentials(**bearer(tokens))
    phone, _ = enable_totp(client)
    stale = stale_tokens(client, tokens)
    code = phone.code()

    def attempt():
        response = client_for(stale).post(URL, {"code": code}, format="json")
        return response.status_code, response.json().get("code")

    results = run_in_threads([attempt] * 4)
    assert Counter(results) == {(200, None): 1, (401, "mfa_invalid"): 3}
    assert AuditEvent.objects.filter(event="reauthenticated").count() == 1
