"""Google and GitHub backends, and backends without a token check.

A bare access token is a credential for the provider's API that every app the user
signed in to holds: SecureAuth accepts one only after the provider confirms it was
issued to this application (Google's tokeninfo, GitHub's "check a token"). The
local test provider (``tests/oidc_provider``) serves Google- and GitHub-shaped APIs
and remembers which client each token was issued to; social_core's HTTP layer runs
for real against it. Only URLs social_core hard-codes are redirected to it.
"""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from social_core.backends.base import BaseAuth
from social_core.backends.github import GithubOAuth2
from social_django.models import UserSocialAuth

from secureauth.models import AuditEvent, VerifiedEmail
from secureauth.social.flows import CODE_FLOW_ONLY
from tests.oidc_provider import OIDCProvider

# Our apps' client credentials (tests/settings.py) and another app's.
GOOGLE_CLIENT, GOOGLE_SECRET = "google-client-id", "google-client-secret"
GITHUB_CLIENT, GITHUB_SECRET = "github-client-id", "github-client-secret"
OTHER_APP = "someone-elses-app"
GOOGLE_USERINFO = "https://www.googleapis.com/oauth2/v3/userinfo"  # fixed in social_core
GOOGLE = "/auth/social/google-oauth2/"
GITHUB = "/auth/social/github/"


@pytest.fixture(scope="module")
def _vendor_server():
    provider = OIDCProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def vendor(_vendor_server, settings, monkeypatch):
    """The provider playing Google and GitHub; ``vendor.calls`` lists the URLs requested.
    Any request that would leave the machine fails the test."""
    provider = _vendor_server
    provider.reset()
    for client_id, secret in (
        (GOOGLE_CLIENT, GOOGLE_SECRET),
        (GITHUB_CLIENT, GITHUB_SECRET),
        (OTHER_APP, "their-secret"),
    ):
        provider.add_client(client_id, secret, [])
    settings.SOCIAL_AUTH_GOOGLE_OAUTH2_TOKENINFO_URL = provider.issuer + "/google/tokeninfo"
    monkeypatch.setattr(GithubOAuth2, "API_URL", provider.issuer + "/github/")
    provider.calls = []
    real_request = BaseAuth.request

    def local_request(self, url, **kwargs):
        if url == GOOGLE_USERINFO:
            url = provider.issuer + "/google/userinfo"
        assert url.startswith(provider.issuer), f"no network in tests: {url}"
        provider.calls.append(url[len(provider.issuer) :].split("?")[0])
        return real_request(self, url, **kwargs)

    monkeypatch.setattr(BaseAuth, "request", local_request)
    return provider


def failure_reason() -> str:
    return AuditEvent.objects.filter(event="login_failed").latest("created_at").detail["reason"]


# -- Google ------------------------------------------------------------------------


def test_google_token_of_this_app_creates_a_verified_user(api, db, vendor):
    gus = vendor.add_user("gus", email="Gus@Example.com", name="Gus Google")
    token = vendor.access_token_for("gus", GOOGLE_CLIENT)
    response = api.post(GOOGLE, {"access_token": token}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["user"]["email"] == "gus@example.com"
    assert response.json()["user"]["email_verified"] is True
    assert vendor.calls == ["/google/tokeninfo", "/google/userinfo"]
    social = UserSocialAuth.objects.get()
    assert (social.provider, social.uid) == ("google-oauth2", gus.sub)
    assert "access_token" not in social.extra_data


def test_google_token_issued_to_another_app_is_refused(api, db, vendor):
    """The victim signed in to some other app with Google; that app's operator replays
    the token here. Google's UserInfo would happily answer with the victim's profile."""
    vendor.add_user("victim", email="victim@example.com")
    theirs = vendor.access_token_for("victim", OTHER_APP)
    response = api.post(GOOGLE, {"access_token": theirs}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert failure_reason() == "audience_mismatch"
    assert vendor.calls == ["/google/tokeninfo"]  # the profile was never read
    assert not get_user_model().objects.exists()


def test_google_accepts_a_token_authorized_for_this_app(api, db, vendor):
    vendor.add_user("gia", email="gia@example.com")
    vendor.answer_overrides["tokeninfo"] = {"aud": "another-audience", "azp": GOOGLE_CLIENT}
    token = vendor.access_token_for("gia", GOOGLE_CLIENT)
    assert api.post(GOOGLE, {"access_token": token}, format="json").status_code == 200


def test_google_token_expired_per_tokeninfo_is_refused(api, db, vendor):
    vendor.add_user("old", email="old@example.com")
    vendor.answer_overrides["tokeninfo"] = {"exp": str(int(time.time()) - 5)}
    token = vendor.access_token_for("old", GOOGLE_CLIENT)
    response = api.post(GOOGLE, {"access_token": token}, format="json")
    assert response.status_code == 401
    assert failure_reason() == "response_expired"


def test_google_unknown_token_is_refused_without_provider_detail(api, db, vendor):
    response = api.post(GOOGLE, {"access_token": "ya29.unknown"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert "invalid_token" not in response.content.decode()
    assert failure_reason() == "credential_rejected"


def test_google_unverified_email_is_refused(api, db, vendor):
    vendor.add_user("gil", email="gil@example.com", email_verified=False)
    token = vendor.access_token_for("gil", GOOGLE_CLIENT)
    response = api.post(GOOGLE, {"access_token": token}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "email_unverified"
    assert not get_user_model().objects.exists()


def test_google_links_by_verified_email_only_an_account_without_password(api, make_user, vendor):
    passwordless = make_user("gwen@example.com", password=None)
    make_user("greg@example.com", verified=True)
    vendor.add_user("gwen", email="gwen@example.com")
    vendor.add_user("greg", email="greg@example.com")

    gwen = api.post(
        GOOGLE, {"access_token": vendor.access_token_for("gwen", GOOGLE_CLIENT)}, format="json"
    )
    assert gwen.status_code == 200 and gwen.json()["user"]["id"] == str(passwordless.pk)
    greg = api.post(
        GOOGLE, {"access_token": vendor.access_token_for("greg", GOOGLE_CLIENT)}, format="json"
    )
    assert greg.status_code == 409 and greg.json()["code"] == "account_exists"


# -- GitHub ------------------------------------------------------------------------


def test_github_token_of_this_app_creates_a_verified_user(api, db, vendor):
    octo = vendor.add_user(
        "octo",
        email="octo@example.com",
        emails=[
            {"email": "old@example.com", "primary": False, "verified": True},
            {"email": "Octo@Example.com", "primary": True, "verified": True},
        ],
    )
    token = vendor.access_token_for("octo", GITHUB_CLIENT)
    response = api.post(GITHUB, {"access_token": token}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["user"]["email"] == "octo@example.com"
    assert response.json()["user"]["email_verified"] is True
    assert vendor.calls[0] == f"/github/applications/{GITHUB_CLIENT}/token"
    assert UserSocialAuth.objects.get().uid == str(octo.github_id)


def test_github_token_issued_to_another_app_is_refused(api, db, vendor):
    """GitHub's /user answers for any valid token; only the check API knows whose app it is."""
    vendor.add_user("victim", email="victim@example.com")
    theirs = vendor.access_token_for("victim", OTHER_APP)
    response = api.post(GITHUB, {"access_token": theirs}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert failure_reason() == "credential_rejected"  # GitHub: 404 for our app
    assert vendor.calls == [f"/github/applications/{GITHUB_CLIENT}/token"]
    assert not get_user_model().objects.exists()


def test_github_check_naming_another_app_is_refused(api, db, vendor):
    vendor.add_user("octo", email="octo@example.com")
    vendor.answer_overrides["github_check"] = {"app": {"client_id": OTHER_APP}}
    token = vendor.access_token_for("octo", GITHUB_CLIENT)
    response = api.post(GITHUB, {"access_token": token}, format="json")
    assert response.status_code == 401
    assert failure_reason() == "audience_mismatch"


def test_github_refusing_our_client_secret_is_unavailable(api, db, vendor, settings):
    settings.SOCIAL_AUTH_GITHUB_SECRET = "not-our-secret"
    vendor.add_user("octo", email="octo@example.com")
    token = vendor.access_token_for("octo", GITHUB_CLIENT)
    response = api.post(GITHUB, {"access_token": token}, format="json")
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"


def test_github_token_check_url_is_a_setting(api, db, vendor, settings):
    settings.SOCIAL_AUTH_GITHUB_TOKEN_CHECK_URL = vendor.issuer + "/github/check/{client_id}"
    vendor.add_user("octo", email="octo@example.com")
    token = vendor.access_token_for("octo", GITHUB_CLIENT)
    assert api.post(GITHUB, {"access_token": token}, format="json").status_code == 401
    assert vendor.calls == [f"/github/check/{GITHUB_CLIENT}"]


def test_github_unverified_primary_email(api, make_user, vendor):
    unverified = [{"email": "octo@example.com", "primary": True, "verified": False}]
    vendor.add_user("octo", email="octo@example.com", emails=unverified)
    token = vendor.access_token_for("octo", GITHUB_CLIENT)
    new = api.post(GITHUB, {"access_token": token}, format="json")
    assert new.status_code == 403 and new.json()["code"] == "email_unverified"

    make_user("octo@example.com", password=None)
    token = vendor.access_token_for("octo", GITHUB_CLIENT)
    existing = api.post(GITHUB, {"access_token": token}, format="json")
    assert existing.status_code == 409 and existing.json()["code"] == "account_exists"
    assert not UserSocialAuth.objects.exists()


def test_github_links_an_account_without_password_by_primary_verified_email(api, make_user, vendor):
    user = make_user("octo@example.com", password=None)
    vendor.add_user("octo", email="octo@example.com")
    token = vendor.access_token_for("octo", GITHUB_CLIENT)
    response = api.post(GITHUB, {"access_token": token}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["user"]["id"] == str(user.pk)
    assert VerifiedEmail.objects.filter(user=user, email="octo@example.com").exists()


# -- backends without a token check ------------------------------------------------------


def test_backend_without_a_token_check_only_accepts_the_code_flow(api, db, vendor, settings):
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "social_core.backends.gitlab.GitLabOAuth2",
    ]
    response = api.post("/auth/social/gitlab/", {"access_token": "glpat-x"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"access_token": [CODE_FLOW_ONLY]}
    assert vendor.calls == []  # nothing was sent anywhere


def test_code_flow_requires_pkce_for_every_backend(api, db, vendor):
    body = {"code": "4/0Ab", "redirect_uri": "http://localhost:3000/cb"}
    response = api.post(GOOGLE, body, format="json")
    assert response.status_code == 400
    assert response.json() == {"code_verifier": ["This field is required."]}
