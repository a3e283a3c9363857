"""Social login against a real OpenID Connect provider on a loopback port.

The test acts as the browser and as the client app: it drives /authorize on the
provider (PKCE, nonce, state), reads the code from the redirect, and hands it
to SecureAuth's API, which exchanges it and validates the ID token.
"""

from __future__ import annotations

import base64
import secrets
from urllib.parse import parse_qs, urlsplit

import jwt
import pyotp
import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient
from social_django.models import UserSocialAuth

from secureauth.models import AuditEvent, Session, VerifiedEmail
from tests.conftest import PASSWORD, bearer, login
from tests.oidc_provider import OIDCProvider, pkce_pair

CLIENT_ID = "secureauth-tests"
CLIENT_SECRET = "oidc-test-secret"
REDIRECT_URI = "http://localhost:3000/oauth/callback"
URL = "/auth/social/oidc/"


@pytest.fixture(scope="module")
def _provider_server():
    provider = OIDCProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def oidc(_provider_server, settings) -> OIDCProvider:
    """The provider with one client registered and SecureAuth pointed at it."""
    provider = _provider_server
    provider.reset()
    provider.add_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])
    settings.SOCIAL_AUTH_OIDC_OIDC_ENDPOINT = provider.issuer
    settings.SOCIAL_AUTH_OIDC_KEY = CLIENT_ID
    settings.SOCIAL_AUTH_OIDC_SECRET = CLIENT_SECRET
    return provider


def authorize(provider: OIDCProvider, login_hint: str, *, pkce=True, nonce=True, state=True):
    """Play the browser: GET /authorize, read the code from the redirect. Returns the
    body to send SecureAuth (code, redirect_uri, code_verifier, nonce, state)."""
    body = {"redirect_uri": REDIRECT_URI}
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email profile",
        "login_hint": login_hint,
    }
    if pkce:
        body["code_verifier"], params["code_challenge"] = pkce_pair()
        params["code_challenge_method"] = "S256"
    if nonce:
        body["nonce"] = params["nonce"] = secrets.token_urlsafe(24)
    if state:
        body["state"] = params["state"] = secrets.token_urlsafe(24)
    response = requests.get(provider.issuer + "/authorize", params=params, allow_redirects=False)
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert "code" in query, query
    if state:
        assert query["state"] == [body["state"]]
    body["code"] = query["code"][0]
    return body


def provider_tokens(provider: OIDCProvider, login_hint: str, nonce=False) -> dict:
    """Play a mobile app that did the whole dance itself: the provider's token response
    (plus the ``nonce`` it used, if any)."""
    body = authorize(provider, login_hint, nonce=nonce)
    response = requests.post(
        provider.issuer + "/token",
        data={
            "grant_type": "authorization_code",
            "code": body["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": body["code_verifier"],
        },
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert response.status_code == 200, response.text
    return {**response.json(), "nonce": body.get("nonce")}


def claims_of(tokens: dict) -> dict:
    return jwt.decode(tokens["access_token"], options={"verify_signature": False})


def last_event(name: str) -> AuditEvent:
    return AuditEvent.objects.filter(event=name).order_by("-created_at", "-pk").first()


# -- sign-in ------------------------------------------------------------------


def test_code_flow_creates_a_user_without_password(api, db, oidc):
    oidc.add_user("carol", email="Carol@Example.com", email_verified=True, name="Carol")
    response = api.post(URL, authorize(oidc, "carol"), format="json")

    assert response.status_code == 200, response.content
    tokens = response.json()
    assert tokens["user"]["email"] == "carol@example.com"
    assert tokens["user"]["email_verified"] is True
    assert claims_of(tokens)["amr"] == ["fed"]
    assert response["Cache-Control"] == "no-store"
    user = get_user_model().objects.get(email="carol@example.com")
    assert not user.has_usable_password()
    assert VerifiedEmail.objects.filter(user=user, email="carol@example.com").exists()
    social = UserSocialAuth.objects.get(user=user)
    assert (social.provider, social.uid) == ("oidc", oidc.users["carol"].sub)
    assert not {"access_token", "refresh_token", "id_token"} & set(social.extra_data)
    # PKCE: the client's verifier reached the provider's token endpoint.
    assert oidc.token_requests[-1]["code_verifier"]
    event = last_event("social_login")
    assert event.user == user and event.detail["new_user"] is True
    body = response.content.decode()
    assert "id_token" not in body and oidc.users["carol"].sub not in body


def test_returning_identity_signs_in_the_same_user(api, db, oidc):
    oidc.add_user("dan", email="dan@example.com")
    first = api.post(URL, authorize(oidc, "dan"), format="json").json()
    second = api.post(URL, authorize(oidc, "dan", nonce=False, state=False), format="json")
    assert second.status_code == 200
    assert second.json()["user"]["id"] == first["user"]["id"]
    assert last_event("social_login").detail["new_user"] is False
    assert UserSocialAuth.objects.count() == 1


def test_access_token_flow(api, db, oidc):
    oidc.add_user("erin", email="erin@example.com")
    provider = provider_tokens(oidc, "erin", nonce=True)
    body = {k: provider[k] for k in ("access_token", "id_token", "nonce")}
    response = api.post(URL, body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["user"]["email"] == "erin@example.com"
    assert response.json()["user"]["email_verified"] is True


def test_access_token_flow_needs_the_matching_id_token_for_oidc(api, db, oidc):
    oidc.add_user("eve", email="eve@example.com")
    oidc.add_user("other", email="other@example.com")
    mine, theirs = provider_tokens(oidc, "eve"), provider_tokens(oidc, "other")
    without = api.post(URL, {"access_token": mine["access_token"]}, format="json")
    assert without.status_code == 401
    # An ID token of another login does not vouch for this access token (at_hash, sub).
    swapped = {"access_token": mine["access_token"], "id_token": theirs["id_token"]}
    assert api.post(URL, swapped, format="json").status_code == 401
    oidc.tamper_id_token = True
    forged = provider_tokens(oidc, "eve")
    body = {"access_token": forged["access_token"], "id_token": forged["id_token"]}
    assert api.post(URL, body, format="json").status_code == 401
    assert not get_user_model().objects.exists()


def test_unreachable_provider_is_unavailable(api, db, oidc, settings):
    settings.SOCIAL_AUTH_OIDC_OIDC_ENDPOINT = "http://127.0.0.1:9"  # nothing listens
    response = api.post(URL, {"code": "c", "redirect_uri": REDIRECT_URI}, format="json")
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"


def test_bad_access_token_is_refused_without_provider_detail(api, db, oidc):
    response = api.post(URL, {"access_token": "not-a-token"}, format="json")
    assert response.status_code == 401
    assert response.json() == {
        "detail": "The provider did not accept these credentials.",
        "code": "invalid_credentials",
    }
    event = last_event("login_failed")
    assert event.detail["provider"] == "oidc" and event.detail["reason"]


def test_issued_tokens_refresh_and_revoke_like_any_session(api, db, oidc):
    oidc.add_user("fay", email="fay@example.com")
    tokens = api.post(URL, authorize(oidc, "fay"), format="json").json()
    refreshed = api.post(
        "/auth/refresh/", {"refresh_token": tokens["refresh_token"]}, format="json"
    )
    assert refreshed.status_code == 200
    new = refreshed.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert claims_of(new)["amr"] == ["fed"]
    assert api.get("/auth/me/", **bearer(new)).status_code == 200
    assert api.post("/auth/logout/", **bearer(new)).status_code == 204
    me = api.get("/auth/me/", **bearer(new))
    assert me.status_code == 401 and me.json()["code"] == "session_revoked"
    again = api.post("/auth/refresh/", {"refresh_token": new["refresh_token"]}, format="json")
    assert again.status_code == 401


# -- linking rules --------------------------------------------------------------


def test_verified_email_links_existing_verified_account(api, make_user, oidc):
    user = make_user("gina@example.com")
    VerifiedEmail.objects.create(user=user, email=user.email)
    oidc.add_user("gina", email="gina@example.com", email_verified=True)

    response = api.post(URL, authorize(oidc, "gina"), format="json")
    assert response.status_code == 200, response.content
    assert response.json()["user"]["id"] == str(user.pk)
    assert UserSocialAuth.objects.get(provider="oidc").user == user
    assert last_event("social_linked").detail["by_verified_email"] is True
    login(api, "gina@example.com")  # a proven account keeps its password


def test_linking_an_unproven_account_voids_its_password_and_sessions(api, make_user, oidc):
    user = make_user("hal@example.com")  # address never verified locally
    old = login(api, "hal@example.com")
    oidc.add_user("hal", email="hal@example.com", email_verified=True)

    response = api.post(URL, authorize(oidc, "hal"), format="json")
    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(user.pk)
    assert response.json()["user"]["email_verified"] is True
    refused = api.post("/auth/login/", {"email": user.email, "password": PASSWORD}, format="json")
    assert refused.status_code == 401
    assert api.get("/auth/me/", **bearer(old)).status_code == 401
    assert last_event("social_linked").detail["password_and_sessions_voided"] is True


def test_unverified_provider_email_matching_an_account_is_refused(api, make_user, oidc):
    make_user("ivy@example.com")
    oidc.add_user("ivy", email="ivy@example.com", email_verified=False)
    response = api.post(URL, authorize(oidc, "ivy"), format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "account_exists"
    assert not UserSocialAuth.objects.exists()


def test_auto_link_can_be_switched_off(api, make_user, oidc):
    make_user("jon@example.com")
    oidc.add_user("jon", email="jon@example.com", email_verified=True)
    with override_settings(SECUREAUTH={"SOCIAL_AUTO_LINK_VERIFIED_EMAIL": False}):
        response = api.post(URL, authorize(oidc, "jon"), format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "account_exists"


def test_unverified_email_of_a_new_user_is_not_marked_verified(api, db, oidc):
    oidc.add_user("kim", email="kim@example.com", email_verified=False)
    response = api.post(URL, authorize(oidc, "kim"), format="json")
    assert response.status_code == 200
    assert response.json()["user"]["email_verified"] is False
    assert not VerifiedEmail.objects.exists()


def test_provider_without_email_is_refused(api, db, oidc):
    oidc.add_user("nomail", email="")
    response = api.post(URL, authorize(oidc, "nomail"), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not get_user_model().objects.exists()


def test_inactive_user_cannot_sign_in(api, make_user, oidc):
    user = make_user("lea@example.com")
    VerifiedEmail.objects.create(user=user, email=user.email)
    oidc.add_user("lea", email="lea@example.com")
    assert api.post(URL, authorize(oidc, "lea"), format="json").status_code == 200
    user.is_active = False
    user.save(update_fields=["is_active"])
    response = api.post(URL, authorize(oidc, "lea"), format="json")
    assert response.status_code == 401


# -- state, code, nonce, ID token ---------------------------------------------


def test_replayed_code_is_refused(api, db, oidc):
    oidc.add_user("max", email="max@example.com")
    body = authorize(oidc, "max", state=False, nonce=False)
    assert api.post(URL, body, format="json").status_code == 200
    replay = api.post(URL, body, format="json")
    assert replay.status_code == 401
    assert replay.json()["code"] == "invalid_credentials"
    assert "invalid_grant" not in replay.content.decode()
    assert last_event("login_failed").detail["provider"] == "oidc"


def test_replayed_state_is_refused(api, db, oidc):
    oidc.add_user("ned", email="ned@example.com")
    first = authorize(oidc, "ned")
    assert api.post(URL, first, format="json").status_code == 200
    second = authorize(oidc, "ned")
    second["state"] = first["state"]  # a fresh code, but a state already used
    response = api.post(URL, second, format="json")
    assert response.status_code == 401
    assert last_event("login_failed").detail["reason"] == "state_mismatch"


def test_tampered_id_token_is_refused(api, db, oidc):
    oidc.add_user("oli", email="oli@example.com")
    oidc.tamper_id_token = True
    response = api.post(URL, authorize(oidc, "oli"), format="json")
    assert response.status_code == 401
    assert last_event("login_failed").detail["reason"] == "invalid_signature"
    assert not get_user_model().objects.exists()


def test_nonce_must_match(api, db, oidc):
    oidc.add_user("pam", email="pam@example.com")
    body = authorize(oidc, "pam")
    body["nonce"] = "a-different-nonce"
    response = api.post(URL, body, format="json")
    assert response.status_code == 401
    assert last_event("login_failed").detail["reason"] == "nonce_mismatch"


def test_id_token_nonce_the_client_did_not_send_is_refused(api, db, oidc):
    oidc.add_user("quin", email="quin@example.com")
    body = authorize(oidc, "quin")
    del body["nonce"]
    assert api.post(URL, body, format="json").status_code == 401


def test_wrong_code_verifier_is_refused_by_the_provider(api, db, oidc):
    oidc.add_user("ray", email="ray@example.com")
    body = authorize(oidc, "ray")
    body["code_verifier"] = pkce_pair()[0]
    assert api.post(URL, body, format="json").status_code == 401
    assert oidc.token_requests[-1]["code_verifier"] == body["code_verifier"]


def test_redirect_uri_must_match_the_authorization(api, db, oidc):
    oidc.add_user("sam", email="sam@example.com")
    body = authorize(oidc, "sam")
    body["redirect_uri"] = "http://localhost:3000/elsewhere"
    assert api.post(URL, body, format="json").status_code == 401


# -- request validation -----------------------------------------------------------


def test_unknown_backend_is_not_found(api, db):
    response = api.post("/auth/social/nope/", {"access_token": "x"}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"access_token": "x", "code": "y", "redirect_uri": REDIRECT_URI},
        {"code": "y"},
        {"code": "y", "redirect_uri": REDIRECT_URI, "code_verifier": "short"},
        {"access_token": "x", "state": "s"},
        {"access_token": ["x"]},
    ],
)
def test_bad_bodies_are_field_errors(api, db, body):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400


# -- MFA -----------------------------------------------------------------------------


def _user_with_mfa(make_user, email):
    user = make_user(email)
    VerifiedEmail.objects.create(user=user, email=email)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user


def test_users_with_mfa_get_the_challenge(api, make_user, oidc):
    _user_with_mfa(make_user, "tia@example.com")
    oidc.add_user("tia", email="tia@example.com", amr=["pwd", "mfa"])
    response = api.post(URL, authorize(oidc, "tia"), format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["mfa_required"] is True and body["mfa_token"]
    assert "access_token" not in body
    assert not Session.objects.exists()


def test_the_mfa_challenge_completes_with_totp(api, make_user, oidc):
    device = _user_with_mfa(make_user, "ted@example.com").totpdevice_set.get()
    oidc.add_user("ted", email="ted@example.com")
    challenge = api.post(URL, authorize(oidc, "ted"), format="json").json()
    code = pyotp.TOTP(base64.b32encode(device.bin_key).decode()).now()
    response = api.post(
        "/auth/mfa/verify/", {"mfa_token": challenge["mfa_token"], "code": code}, format="json"
    )
    assert response.status_code == 200, response.content
    assert claims_of(response.json())["amr"] == ["fed", "otp"]


def test_provider_mfa_is_trusted_only_when_configured_and_asserted(api, make_user, oidc):
    _user_with_mfa(make_user, "uma@example.com")
    oidc.add_user("uma", email="uma@example.com", amr=["pwd", "mfa"])
    with override_settings(SECUREAUTH={"SOCIAL_TRUST_PROVIDER_MFA": True}):
        trusted = api.post(URL, authorize(oidc, "uma"), format="json")
        assert trusted.status_code == 200
        assert claims_of(trusted.json())["amr"] == ["fed", "mfa"]
        oidc.users["uma"].amr = ["pwd"]
        challenged = api.post(URL, authorize(oidc, "uma"), format="json")
        assert challenged.json().get("mfa_required") is True


# -- connections ----------------------------------------------------------------------


def test_connect_list_and_unlink(signed_in, oidc, user):
    api, tokens = signed_in
    oidc.add_user("alice-idp", email="alice.other@example.org")
    response = api.post(URL + "connect/", authorize(oidc, "alice-idp"), format="json")
    assert response.status_code == 201, response.content
    connection = response.json()
    assert set(connection) == {"id", "provider", "uid", "created_at"}
    assert connection["provider"] == "oidc"
    assert connection["uid"] == oidc.users["alice-idp"].sub
    assert last_event("social_linked").user == user
    # The provider-verified address is recorded for the user.
    assert VerifiedEmail.objects.filter(user=user, email="alice.other@example.org").exists()

    again = api.post(URL + "connect/", authorize(oidc, "alice-idp"), format="json")
    assert again.status_code == 201 and again.json() == connection

    listed = api.get("/auth/social/connections/")
    assert listed.status_code == 200 and listed.json() == [connection]

    # The identity now signs the same user in.
    signed = api.post(URL, authorize(oidc, "alice-idp"), format="json")
    assert signed.json()["user"]["id"] == str(user.pk)

    deleted = api.delete(f"/auth/social/connections/{connection['id']}/")
    assert deleted.status_code == 204
    assert api.get("/auth/social/connections/").json() == []
    assert last_event("social_unlinked").detail["provider"] == "oidc"


def test_connect_identity_of_another_user_conflicts(api, make_user, oidc):
    oidc.add_user("vic", email="vic@example.com")
    assert api.post(URL, authorize(oidc, "vic"), format="json").status_code == 200
    other = make_user("walt@example.com")
    tokens = login(api, other.email)
    response = api.post(URL + "connect/", authorize(oidc, "vic"), format="json", **bearer(tokens))
    assert response.status_code == 409
    assert response.json()["code"] == "account_exists"


def test_connect_requires_bearer(api, db, oidc):
    response = api.post(URL + "connect/", {"access_token": "x"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_last_way_to_sign_in_cannot_be_unlinked(api, db, oidc):
    oidc.add_user("xena", email="xena@example.com")
    tokens = api.post(URL, authorize(oidc, "xena"), format="json").json()
    connections = api.get("/auth/social/connections/", **bearer(tokens)).json()
    response = api.delete(f"/auth/social/connections/{connections[0]['id']}/", **bearer(tokens))
    assert response.status_code == 409
    assert response.json()["code"] == "invalid"
    assert UserSocialAuth.objects.count() == 1


def test_unlink_of_unknown_or_another_users_connection_is_not_found(signed_in, make_user, oidc):
    api, _ = signed_in
    oidc.add_user("yan", email="yan@example.com")
    stranger = APIClient()
    other = stranger.post(URL, authorize(oidc, "yan"), format="json").json()
    theirs = stranger.get("/auth/social/connections/", **bearer(other)).json()[0]["id"]
    for connection_id in (theirs, "999999", "abc", "9" * 40):
        response = api.delete(f"/auth/social/connections/{connection_id}/")
        assert response.status_code == 404, connection_id
        assert response.json()["code"] == "not_found"


def test_unverified_email_cannot_sign_in_when_verification_is_required(api, db, oidc):
    from django.conf import settings

    oidc.add_user("uma", email="uma@example.com", email_verified=False)
    with override_settings(SECUREAUTH={**settings.SECUREAUTH, "ALLOW_UNVERIFIED_LOGIN": False}):
        response = api.post(URL, authorize(oidc, "uma"), format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not Session.objects.exists()
