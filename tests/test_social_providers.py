"""Google and GitHub backends: the pipeline on recorded provider responses.

Only the HTTP layer of social_core (``BaseAuth.request``) is replaced, by
recorded answers of the providers' user-data endpoints; the backends, the
pipeline and SecureAuth's rules run for real.
"""

from __future__ import annotations

import json

import pytest
import requests
from social_core.backends.base import BaseAuth
from social_core.utils import http_error
from social_django.models import UserSocialAuth

from secureauth.models import AuditEvent, VerifiedEmail

GOOGLE_USERINFO = "https://www.googleapis.com/oauth2/v3/userinfo"
GITHUB_USER = "https://api.github.com/user"
GITHUB_EMAILS = "https://api.github.com/user/emails"


@pytest.fixture
def recorded(monkeypatch):
    """Serve recorded answers by URL; remembers the calls made."""
    answers: dict[str, tuple[int, object]] = {}
    calls: list[dict] = []

    def fake_request(self, url, *, method="GET", headers=None, **kwargs):
        calls.append({"url": url, "method": method, "headers": dict(headers or {})})
        status, body = answers.get(url, (404, {"message": "Not Found"}))
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        response.url = url
        if status >= 400:
            raise http_error(self, requests.HTTPError(response=response), stage="user_info")
        return response

    monkeypatch.setattr(BaseAuth, "request", fake_request)
    return answers, calls


def google_profile(email="gus@example.com", verified=True):
    return {
        "sub": "109876543210",
        "email": email,
        "email_verified": verified,
        "name": "Gus Google",
        "given_name": "Gus",
        "family_name": "Google",
        "picture": "https://lh3.googleusercontent.com/a/x",
    }


def test_google_access_token_creates_a_verified_user(api, db, recorded):
    answers, calls = recorded
    answers[GOOGLE_USERINFO] = (200, google_profile())
    response = api.post("/auth/social/google-oauth2/", {"access_token": "ya29.t"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["user"]["email"] == "gus@example.com"
    assert response.json()["user"]["email_verified"] is True
    assert calls[0]["headers"]["Authorization"] == "Bearer ya29.t"
    social = UserSocialAuth.objects.get()
    assert (social.provider, social.uid) == ("google-oauth2", "109876543210")
    assert "access_token" not in social.extra_data


def test_google_links_an_existing_account_by_verified_email(api, make_user, recorded):
    user = make_user("gus@example.com")
    VerifiedEmail.objects.create(user=user, email=user.email)
    recorded[0][GOOGLE_USERINFO] = (200, google_profile())
    response = api.post("/auth/social/google-oauth2/", {"access_token": "ya29.t"}, format="json")
    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(user.pk)


def test_google_unverified_email_is_refused_by_the_backend(api, db, recorded):
    recorded[0][GOOGLE_USERINFO] = (200, google_profile(verified=False))
    response = api.post("/auth/social/google-oauth2/", {"access_token": "ya29.t"}, format="json")
    assert response.status_code == 401
    assert AuditEvent.objects.get(event="login_failed").detail["reason"] == "invalid_claim"


def test_google_rejected_token(api, db, recorded):
    recorded[0][GOOGLE_USERINFO] = (401, {"error": "invalid_token"})
    response = api.post("/auth/social/google-oauth2/", {"access_token": "expired"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert "invalid_token" not in response.content.decode()


def github_user(email=None):
    return {"login": "octo", "id": 583231, "name": "Octo Cat", "email": email}


def test_github_primary_verified_email_links(api, make_user, recorded):
    user = make_user("octo@example.com")
    VerifiedEmail.objects.create(user=user, email=user.email)
    answers, calls = recorded
    answers[GITHUB_USER] = (200, github_user())
    answers[GITHUB_EMAILS] = (
        200,
        [
            {"email": "old@example.com", "primary": False, "verified": True},
            {"email": "octo@example.com", "primary": True, "verified": True},
        ],
    )
    response = api.post("/auth/social/github/", {"access_token": "gho_t"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["user"]["id"] == str(user.pk)
    assert calls[0]["headers"]["Authorization"] == "token gho_t"
    assert UserSocialAuth.objects.get().uid == "583231"


def test_github_unverified_primary_email_is_not_linked(api, make_user, recorded):
    make_user("octo@example.com")
    answers, _ = recorded
    answers[GITHUB_USER] = (200, github_user("octo@example.com"))
    answers[GITHUB_EMAILS] = (
        200,
        [{"email": "octo@example.com", "primary": True, "verified": False}],
    )
    response = api.post("/auth/social/github/", {"access_token": "gho_t"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "account_exists"


def test_github_new_user_with_verified_primary_email(api, db, recorded):
    answers, _ = recorded
    answers[GITHUB_USER] = (200, github_user())
    answers[GITHUB_EMAILS] = (
        200,
        [{"email": "Octo@Example.com", "primary": True, "verified": True}],
    )
    response = api.post("/auth/social/github/", {"access_token": "gho_t"}, format="json")
    assert response.status_code == 200
    assert response.json()["user"] == {
        **response.json()["user"],
        "email": "octo@example.com",
        "email_verified": True,
    }
