"""Email verification: the link mailed at registration, resending it, and
ALLOW_UNVERIFIED_LOGIN."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from rest_framework.test import APIClient

from secureauth.models import AuditEvent, VerifiedEmail
from tests.conftest import PASSWORD, bearer, login, secureauth_settings


def verification_link(outbox_index: int = -1) -> dict[str, str]:
    link = re.search(r"https?://\S+", mail.outbox[outbox_index].body).group(0)
    query = parse_qs(urlsplit(link).query)
    return {"link": link, "uid": query["uid"][0], "token": query["token"][0]}


def register(client: APIClient, email: str = "new@example.com"):
    response = client.post("/auth/register/", {"email": email, "password": PASSWORD}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["user"]


def confirm(client: APIClient, uid: str, token: str):
    return client.post("/auth/email/verify/", {"uid": uid, "token": token}, format="json")


def test_registration_mails_a_link_that_verifies_the_address(api, db):
    user = register(api)
    assert user["email_verified"] is False
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new@example.com"]
    assert mail.outbox[0].subject == "Confirm your email address"
    link = verification_link()
    assert link["link"].startswith("http://localhost:3000/verify-email?uid=")
    response = confirm(api, link["uid"], link["token"])
    assert response.status_code == 204
    tokens = login(api, "new@example.com")
    assert tokens["user"]["email_verified"] is True
    assert api.get("/auth/me/", **bearer(tokens)).json()["email_verified"] is True
    assert AuditEvent.objects.filter(event="email_verified").count() == 1


def test_a_verification_link_works_once(api, db):
    register(api)
    link = verification_link()
    assert confirm(api, link["uid"], link["token"]).status_code == 204
    replay = confirm(api, link["uid"], link["token"])
    assert replay.status_code == 400
    assert replay.json() == {
        "detail": "The verification link is invalid or has expired.",
        "code": "invalid",
    }


def test_a_link_for_an_old_address_does_not_verify_the_new_one(api, db):
    register(api)
    link = verification_link()
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(email="new@example.com").update(email="other@example.com")
    assert confirm(api, link["uid"], link["token"]).status_code == 400
    assert not VerifiedEmail.objects.exists()


def test_a_password_reset_token_is_not_a_verification_token(api, db):
    register(api)
    link = verification_link()
    api.post("/auth/password/reset/", {"email": "new@example.com"}, format="json")
    reset = verification_link()
    assert reset["token"] != link["token"]
    assert confirm(api, reset["uid"], reset["token"]).status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {"uid": "MQ", "token": "nope"},
        {"uid": "%%%", "token": "x"},
        {"uid": "", "token": ""},
        {"uid": "MQ"},
        {"uid": "x" * 100, "token": "x"},
        {"uid": ["MQ"], "token": "x"},
    ],
)
def test_bad_verification_requests_are_refused(api, user, body):
    response = api.post("/auth/email/verify/", body, format="json")
    assert response.status_code == 400


def test_resend_mails_a_new_link(api, db):
    register(api)
    tokens = login(api, "new@example.com")
    response = api.post("/auth/email/verify/resend/", **bearer(tokens))
    assert response.status_code == 202
    assert len(mail.outbox) == 2
    link = verification_link()
    assert confirm(api, link["uid"], link["token"]).status_code == 204


def test_resend_for_a_verified_address_sends_nothing(api, db):
    register(api)
    link = verification_link()
    confirm(api, link["uid"], link["token"])
    tokens = login(api, "new@example.com")
    assert api.post("/auth/email/verify/resend/", **bearer(tokens)).status_code == 202
    assert len(mail.outbox) == 1


def test_resend_is_rate_limited_per_account(api, db):
    register(api)
    tokens = login(api, "new@example.com")
    statuses = [
        api.post("/auth/email/verify/resend/", **bearer(tokens)).status_code for _ in range(4)
    ]
    assert statuses == [202, 202, 202, 429]
    assert len(mail.outbox) == 1 + 3


def test_resend_needs_a_bearer_token(api, db):
    response = api.post("/auth/email/verify/resend/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_unverified_users_may_sign_in_by_default(api, db):
    register(api)
    assert "access_token" in login(api, "new@example.com")


def test_unverified_login_can_be_forbidden(api, db):
    register(api)
    with secureauth_settings(ALLOW_UNVERIFIED_LOGIN=False):
        refused = api.post(
            "/auth/login/", {"email": "new@example.com", "password": PASSWORD}, format="json"
        )
        assert refused.status_code == 403
        assert refused.json()["code"] == "permission_denied"
        assert "not verified" in refused.json()["detail"]
        wrong = api.post(
            "/auth/login/", {"email": "new@example.com", "password": "nope"}, format="json"
        )
        assert wrong.status_code == 401  # the verification state is told only to the owner
        link = verification_link()
        assert confirm(api, link["uid"], link["token"]).status_code == 204
        assert "access_token" in login(api, "new@example.com")
    event = AuditEvent.objects.filter(event="login_failed", detail__reason="email_unverified")
    assert event.count() == 1


def test_registration_succeeds_when_the_mail_cannot_be_sent(api, db, settings, caplog):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1  # nothing listens there
    user = register(api)
    assert user["email_verified"] is False
    assert "could not send mail 'Confirm your email address'" in caplog.text
