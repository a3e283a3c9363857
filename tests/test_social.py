"""Social login against a real OpenID Connect provider on a loopback port.

The test acts as the browser and as the client app: it drives /authorize on the
provider (PKCE, nonce, state), reads the code from the redirect, and hands it
to SecureAuth's API, which exchanges it and validates the ID token. Linking rules
and connected identities are in ``test_social_linking.py``; Google and GitHub in
``test_social_providers.py``.
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
from social_django.models import UserSocialAuth

from secureauth.models import AuditEvent, SealedTOTPDevice, Session, VerifiedEmail
from tests.conftest import bearer
from tests.oidc_provider import OIDCProvider, pkce_pair

CLIENT_ID = "secureauth-tests"
CLIENT_SECRET = "oidc-test-secret"
REDIRECT_URI = "http://localhost:3000/oauth/callback"
URL = "/auth/social/oidc/"
OTHER_APP = "another-app"


@pytest.fixture(scope="module")
def _provider_server():
    provider = OIDCProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def oidc(_provider_server, settings) -> OIDCProvider:
    """The provider with our client (and another app) registered, SecureAuth pointed at it."""
    provider = _provider_server
    provider.reset()
    provider.add_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])
    provider.add_client(OTHER_APP, "another-secret", [REDIRECT_URI])
    settings.SOCIAL_AUTH_OIDC_OIDC_ENDPOINT = provider.issuer
    settings.SOCIAL_AUTH_OIDC_KEY = CLIENT_ID
    settings.SOCIAL_AUTH_OIDC_SECRET = CLIENT_SECRET
    return provider


def authorize(
    provider: OIDCProvider,
    login_hint: str,
    *,
    pkce=True,
    nonce: bool | str = True,
    state=True,
    client_id: str = CLIENT_ID,
):
    """Play the browser: GET /authorize, read the code from the redirect. Returns the
    body to send SecureAuth (code, redirect_uri, code_verifier, nonce, state).
    ``nonce`` may be the nonce to use."""
    body = {"redirect_uri": REDIRECT_URI}
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email profile",
        "login_hint": login_hint,
    }
    if pkce:
        body["code_verifier"], params["code_challenge"] = pkce_pair()
        params["code_challenge_method"] = "S256"
    if nonce:
        chosen = nonce if isinstance(nonce, str) else secrets.token_urlsafe(24)
        body["nonce"] = params["nonce"] = chosen
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


def provider_tokens(
    provider: OIDCProvider, login_hint: str, *, nonce=True, client_id: str = CLIENT_ID
) -> dict:
    """Play a mobile app that did the whole dance itself (as ``client_id``): the
    provider's token response, plus the ``nonce`` it used."""
    body = authorize(provider, login_hint, nonce=nonce, client_id=client_id)
    secret = provider.clients[client_id].secret
    response = requests.post(
        provider.issuer + "/token",
        data={
            "grant_type": "authorization_code",
            "code": body["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": body["code_verifier"],
        },
        auth=(client_id, secret),
    )
    assert response.status_code == 200, response.text
    return {**response.json(), "nonce": body.get("nonce")}


def token_body(tokens: dict) -> dict:
    """What the app sends SecureAuth in the access-token flow."""
    return {k: tokens[k] for k in ("access_token", "id_token", "nonce") if tokens.get(k)}


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
    second = api.post(URL, authorize(oidc, "dan", state=False), format="json")
    assert second.status_code == 200
    assert second.json()["user"]["id"] == first["user"]["id"]
    assert last_event("social_login").detail["new_user"] is False
    assert UserSocialAuth.objects.count() == 1


def test_unverified_provider_email_creates_no_account(api, db, oidc):
    """An address the provider does not vouch for could be anyone's: no account for it."""
    oidc.add_user("kim", email="kim@example.com", email_verified=False)
    response = api.post(URL, authorize(oidc, "kim"), format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "email_unverified"
    assert not get_user_model().objects.exists()
    assert not UserSocialAuth.objects.exists() and not Session.objects.exists()
    event = last_event("login_failed")
    assert event.detail["provider"] == "oidc" and event.detail["reason"] == "email_unverified"


def test_provider_without_email_is_refused(api, db, oidc):
    oidc.add_user("nomail", email="")
    response = api.post(URL, authorize(oidc, "nomail"), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not get_user_model().objects.exists()


def test_inactive_user_cannot_sign_in(api, db, oidc):
    oidc.add_user("lea", email="lea@example.com")
    assert api.post(URL, authorize(oidc, "lea"), format="json").status_code == 200
    user = get_user_model().objects.get(email="lea@example.com")
    user.is_active = False
    user.save(update_fields=["is_active"])
    response = api.post(URL, authorize(oidc, "lea"), format="json")
    assert response.status_code == 401


def test_unverified_account_cannot_sign_in_when_verification_is_required(api, db, oidc):
    from django.conf import settings

    oidc.add_user("uma", email="uma@example.com")
    assert api.post(URL, authorize(oidc, "uma"), format="json").status_code == 200
    user = get_user_model().objects.get(email="uma@example.com")
    user.email = user.username = "uma@new.example"  # the account's address changed since
    user.save()
    with override_settings(SECUREAUTH={**settings.SECUREAUTH, "ALLOW_UNVERIFIED_LOGIN": False}):
        response = api.post(URL, authorize(oidc, "uma"), format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert Session.objects.count() == 1  # only the first sign-in's


def test_unreachable_provider_is_unavailable(api, db, oidc, settings):
    settings.SOCIAL_AUTH_OIDC_OIDC_ENDPOINT = "http://127.0.0.1:9"  # nothing listens
    body = {
        "code": "c",
        "redirect_uri": REDIRECT_URI,
        "code_verifier": pkce_pair()[0],
        "nonce": "n",
    }
    response = api.post(URL, body, format="json")
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"


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


# -- the access-token flow: the ID token vouches for the access token ------------


def test_access_token_flow(api, db, oidc):
    oidc.add_user("erin", email="erin@example.com")
    response = api.post(URL, token_body(provider_tokens(oidc, "erin")), format="json")
    assert response.status_code == 200, response.content
    assert response.json()["user"]["email"] == "erin@example.com"
    assert response.json()["user"]["email_verified"] is True


def test_access_token_flow_requires_the_id_token_and_its_nonce(api, db, oidc):
    oidc.add_user("eve", email="eve@example.com")
    tokens = provider_tokens(oidc, "eve")
    without = api.post(URL, {"access_token": tokens["access_token"]}, format="json")
    assert without.status_code == 400
    assert set(without.json()) >= {"id_token", "nonce"}
    no_nonce = {"access_token": tokens["access_token"], "id_token": tokens["id_token"]}
    response = api.post(URL, no_nonce, format="json")
    assert response.status_code == 400
    assert response.json()["nonce"] == ["This field is required."]
    assert not oidc.token_requests[1:]  # SecureAuth never called the provider
    assert not get_user_model().objects.exists()


def test_access_token_issued_to_another_app_is_refused(api, db, oidc):
    """The victim signed in to another app of the same provider: that app holds an access
    token and ID token for them, but the ID token's audience is that app, not us."""
    oidc.add_user("vera", email="vera@example.com")
    theirs = provider_tokens(oidc, "vera", client_id=OTHER_APP)
    response = api.post(URL, token_body(theirs), format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert last_event("login_failed").detail["reason"] == "invalid_claim"  # aud
    assert not get_user_model().objects.exists()


def test_id_token_of_another_login_does_not_vouch_for_the_access_token(api, db, oidc):
    oidc.add_user("eve", email="eve@example.com")
    oidc.add_user("other", email="other@example.com")
    mine, theirs = provider_tokens(oidc, "eve"), provider_tokens(oidc, "other")
    # An ID token of another login does not vouch for this access token (at_hash, sub).
    swapped = {**token_body(mine), "id_token": theirs["id_token"], "nonce": theirs["nonce"]}
    assert api.post(URL, swapped, format="json").status_code == 401
    oidc.tamper_id_token = True
    forged = provider_tokens(oidc, "eve")
    assert api.post(URL, token_body(forged), format="json").status_code == 401
    assert not get_user_model().objects.exists()


def test_id_token_without_at_hash_does_not_vouch_for_an_access_token(api, db, oidc):
    oidc.add_user("ash", email="ash@example.com")
    oidc.omit_at_hash = True
    response = api.post(URL, token_body(provider_tokens(oidc, "ash")), format="json")
    assert response.status_code == 401
    event = last_event("login_failed")
    assert event.detail["reason"] == "missing_claim" and "at_hash" in event.detail["message"]
    assert not get_user_model().objects.exists()


def test_bad_access_token_is_refused_without_provider_detail(api, db, oidc):
    body = {"access_token": "not-a-token", "id_token": "not.an.idtoken", "nonce": "n"}
    response = api.post(URL, body, format="json")
    assert response.status_code == 401
    assert response.json() == {
        "detail": "The provider did not accept these credentials.",
        "code": "invalid_credentials",
    }
    event = last_event("login_failed")
    assert event.detail["provider"] == "oidc" and event.detail["reason"]


# -- state, code, PKCE, nonce, ID token ---------------------------------------------


def test_replayed_code_is_refused(api, db, oidc):
    oidc.add_user("max", email="max@example.com")
    body = authorize(oidc, "max", state=False)
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


def test_code_flow_requires_pkce(api, db, oidc):
    """A code without its verifier could be a code stolen from the redirect."""
    oidc.add_user("pia", email="pia@example.com")
    body = authorize(oidc, "pia", pkce=False)  # the provider would exchange it as is
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json() == {"code_verifier": ["This field is required."]}
    assert not oidc.token_requests
    assert not get_user_model().objects.exists()


def test_wrong_code_verifier_is_refused_by_the_provider(api, db, oidc):
    oidc.add_user("ray", email="ray@example.com")
    body = authorize(oidc, "ray")
    body["code_verifier"] = pkce_pair()[0]
    assert api.post(URL, body, format="json").status_code == 401
    assert oidc.token_requests[-1]["code_verifier"] == body["code_verifier"]


def test_code_flow_requires_a_nonce(api, db, oidc):
    oidc.add_user("quin", email="quin@example.com")
    body = authorize(oidc, "quin")
    del body["nonce"]
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json() == {"nonce": ["This field is required."]}
    assert not oidc.token_requests


def test_id_token_without_a_nonce_is_refused(api, db, oidc):
    """An ID token minted for a sign-in that used no nonce is not bound to this one."""
    oidc.add_user("nia", email="nia@example.com")
    body = authorize(oidc, "nia", nonce=False)
    body["nonce"] = secrets.token_urlsafe(24)
    response = api.post(URL, body, format="json")
    assert response.status_code == 401
    assert last_event("login_failed").detail["reason"] == "nonce_mismatch"
    assert not get_user_model().objects.exists()


def test_nonce_must_match(api, db, oidc):
    oidc.add_user("pam", email="pam@example.com")
    body = authorize(oidc, "pam")
    body["nonce"] = "a-different-nonce"
    response = api.post(URL, body, format="json")
    assert response.status_code == 401
    assert last_event("login_failed").detail["reason"] == "nonce_mismatch"


def test_nonce_is_accepted_once(api, db, oidc):
    oidc.add_user("nat", email="nat@example.com")
    nonce = secrets.token_urlsafe(24)
    assert api.post(URL, authorize(oidc, "nat", nonce=nonce), format="json").status_code == 200
    again = api.post(URL, authorize(oidc, "nat", nonce=nonce), format="json")
    assert again.status_code == 401
    assert last_event("login_failed").detail["reason"] == "nonce_mismatch"


def test_tampered_id_token_is_refused(api, db, oidc):
    oidc.add_user("oli", email="oli@example.com")
    oidc.tamper_id_token = True
    response = api.post(URL, authorize(oidc, "oli"), format="json")
    assert response.status_code == 401
    assert last_event("login_failed").detail["reason"] == "invalid_signature"
    assert not get_user_model().objects.exists()


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
        {"code": "y", "redirect_uri": REDIRECT_URI},
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
    user = make_user(email, password=None, verified=True)  # passwordless: it links
    SealedTOTPDevice.objects.create_sealed(user=user, name="phone", confirmed=True)
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
    device = SealedTOTPDevice.objects.get(user=_user_with_mfa(make_user, "ted@example.com"))
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
