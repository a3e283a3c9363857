"""Password change (with the current password) and reset by email, through the HTTP API."""

from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.db import connection
from rest_framework.test import APIClient

from secureauth.models import AuditEvent, Session
from secureauth.services.passwords import password_reset_token
from tests.conftest import PASSWORD, bearer, login, postgres_only, secureauth_settings

NEW_PASSWORD = "a different horse, battery and staple"


def reset_link(outbox_index: int = -1) -> dict[str, str]:
    """uid and token of the reset link in a sent mail."""
    body = mail.outbox[outbox_index].body
    link = re.search(r"https?://\S+", body).group(0)
    query = parse_qs(urlsplit(link).query)
    return {"link": link, "uid": query.get("uid", [""])[0], "token": query.get("token", [""])[0]}


def request_reset(client: APIClient, email: str, **extra):
    return client.post("/auth/password/reset/", {"email": email}, format="json", **extra)


def confirm_reset(client: APIClient, uid: str, token: str, new_password: str = NEW_PASSWORD):
    return client.post(
        "/auth/password/reset/confirm/",
        {"uid": uid, "token": token, "new_password": new_password},
        format="json",
    )


# --- change -----------------------------------------------------------------------


def test_change_password_keeps_this_session_and_revokes_the_others(api, user):
    other = login(APIClient(), user.email)
    tokens = login(api, user.email)
    api.credentials(**bearer(tokens))
    response = api.post(
        "/auth/password/change/",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )
    assert response.status_code == 204
    assert api.get("/auth/me/").status_code == 200
    refreshed = api.post(
        "/auth/refresh/", {"refresh_token": tokens["refresh_token"]}, format="json"
    )
    assert refreshed.status_code == 200
    assert APIClient().get("/auth/me/", **bearer(other)).json()["code"] == "session_revoked"
    assert Session.objects.get(revoked_at__isnull=False).revoked_reason == "password_changed"
    bad = APIClient().post(
        "/auth/login/", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert bad.status_code == 401
    login(APIClient(), user.email, NEW_PASSWORD)
    event = AuditEvent.objects.get(event="password_changed")
    assert event.detail["sessions_revoked"] == 1


def test_change_refuses_a_wrong_current_password(signed_in, user):
    client, _ = signed_in
    response = client.post(
        "/auth/password/change/",
        {"current_password": "wrong", "new_password": NEW_PASSWORD},
        format="json",
    )
    # 400, not 401: a client must not take a wrong re-entered password for an expired token.
    assert response.status_code == 400
    assert "WWW-Authenticate" not in response
    assert response.json() == {
        "detail": "The password is incorrect.",
        "code": "invalid_credentials",
    }
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert not AuditEvent.objects.filter(event="password_changed").exists()


def test_wrong_current_passwords_are_rate_limited(signed_in):
    client, _ = signed_in
    statuses = [
        client.post(
            "/auth/password/change/",
            {"current_password": "wrong", "new_password": NEW_PASSWORD},
            format="json",
        ).status_code
        for _ in range(7)
    ]
    assert statuses[:5] == [400] * 5 and statuses[-1] == 429


@pytest.mark.parametrize("new_password", ["short", "password123", "12345678901", "alice@example"])
def test_change_validates_the_new_password(signed_in, user, new_password):
    client, _ = signed_in
    response = client.post(
        "/auth/password/change/",
        {"current_password": PASSWORD, "new_password": new_password},
        format="json",
    )
    assert response.status_code == 400
    assert list(response.json()) == ["new_password"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


@pytest.mark.parametrize("body", [{}, {"current_password": PASSWORD}, {"new_password": "x" * 5000}])
def test_change_needs_both_fields(signed_in, body):
    client, _ = signed_in
    response = client.post("/auth/password/change/", body, format="json")
    assert response.status_code == 400


def test_change_needs_a_bearer_token(api, db):
    response = api.post(
        "/auth/password/change/",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- reset ------------------------------------------------------------------------


def test_reset_answers_the_same_for_known_and_unknown_addresses(api, user):
    known = request_reset(api, user.email)
    unknown = request_reset(api, "ghost@example.com")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]
    # The same work either way: one audit row each (only the known one names a user).
    events = AuditEvent.objects.filter(event="password_reset_requested").order_by("pk")
    assert [(e.user_id, e.detail) for e in events] == [
        (user.pk, {"known": True}),
        (None, {"known": False}),
    ]


def test_reset_link_comes_from_settings_not_the_host_header(api, user):
    request_reset(api, user.email.upper(), HTTP_HOST="evil.example")
    link = reset_link()["link"]
    assert link.startswith("http://localhost:3000/reset-password?uid=")
    assert "evil" not in mail.outbox[0].body
    with secureauth_settings(FRONTEND_URL="https://app.example.com/"):
        request_reset(api, user.email, HTTP_HOST="evil.example")
    assert reset_link()["link"].startswith("https://app.example.com/reset-password?uid=")
    custom = "https://id.example.com/r/{uid}/{token}"
    with secureauth_settings(PASSWORD_RESET_URL=custom):
        request_reset(api, user.email)
    assert re.fullmatch(r"https://id\.example\.com/r/\w+/[\w-]+", reset_link()["link"])


def test_reset_confirm_sets_the_password_and_revokes_every_session(api, user):
    tokens = login(APIClient(), user.email)
    request_reset(api, user.email)
    link = reset_link()
    response = confirm_reset(api, link["uid"], link["token"])
    assert response.status_code == 204
    assert response.content == b""
    assert APIClient().get("/auth/me/", **bearer(tokens)).json()["code"] == "session_revoked"
    assert Session.objects.get().revoked_reason == "password_reset"
    login(APIClient(), user.email, NEW_PASSWORD)
    assert AuditEvent.objects.filter(event="password_reset_completed").count() == 1


def test_a_reset_link_works_once(api, user):
    request_reset(api, user.email)
    link = reset_link()
    assert confirm_reset(api, link["uid"], link["token"]).status_code == 204
    replay = confirm_reset(api, link["uid"], link["token"], "yet another long passphrase")
    assert replay.status_code == 400
    assert replay.json() == {
        "detail": "The reset link is invalid or has expired.",
        "code": "invalid",
    }
    login(APIClient(), user.email, NEW_PASSWORD)


def test_a_reset_link_expires(api, user, monkeypatch, settings):
    request_reset(api, user.email)
    link = reset_link()
    later = datetime.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 1)
    monkeypatch.setattr(password_reset_token, "_now", lambda: later)
    response = confirm_reset(api, link["uid"], link["token"])
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_signing_in_does_not_void_a_pending_reset_link(api, user):
    """Django's tokens hash last_login: whoever knows the password could block the
    owner's recovery by signing in every few seconds."""
    request_reset(api, user.email)
    link = reset_link()
    for _ in range(3):
        login(APIClient(), user.email)
    assert confirm_reset(APIClient(), link["uid"], link["token"]).status_code == 204


def test_a_password_change_voids_a_pending_reset_link(api, user):
    request_reset(api, user.email)
    link = reset_link()
    api.credentials(**bearer(login(api, user.email)))
    api.post(
        "/auth/password/change/",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )
    assert confirm_reset(APIClient(), link["uid"], link["token"]).status_code == 400


@pytest.mark.parametrize(
    "uid,token",
    [("MQ", "bad-token"), ("!!!", "x"), ("OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "x"), ("", "x")],
)
def test_reset_confirm_with_a_bad_link_is_invalid(api, user, uid, token):
    response = confirm_reset(api, uid, token)
    assert response.status_code == 400
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_reset_confirm_validates_the_new_password_and_keeps_the_link(api, user):
    request_reset(api, user.email)
    link = reset_link()
    weak = confirm_reset(api, link["uid"], link["token"], "123")
    assert weak.status_code == 400
    assert list(weak.json()) == ["new_password"]
    assert confirm_reset(api, link["uid"], link["token"]).status_code == 204


def test_reset_does_not_sign_in_and_marks_the_email_verified(api, user):
    request_reset(api, user.email)
    link = reset_link()
    confirm_reset(api, link["uid"], link["token"])
    tokens = login(APIClient(), user.email, NEW_PASSWORD)
    assert tokens["user"]["email_verified"] is True


def test_reset_for_an_inactive_user_sends_nothing(api, make_user):
    make_user("gone@example.com", is_active=False)
    assert request_reset(api, "gone@example.com").status_code == 202
    assert mail.outbox == []


def test_reset_requests_are_rate_limited(api, user):
    with secureauth_settings(RATE_LIMITS={"password_reset": "2/h"}):
        statuses = [request_reset(api, user.email).status_code for _ in range(3)]
    assert statuses == [202, 202, 429]


def test_reset_with_a_malformed_email_is_a_field_error(api, db):
    response = api.post("/auth/password/reset/", {"email": "not an email"}, format="json")
    assert response.status_code == 400
    assert "email" in response.json()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_reset_link_used_twice_at_once_works_once(make_user):
    user = make_user("racer@example.com")
    request_reset(APIClient(), user.email)
    link = reset_link()
    barrier = threading.Barrier(4)
    results = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            password = f"{NEW_PASSWORD} number {index}"
            results.append(confirm_reset(APIClient(), link["uid"], link["token"], password))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert Counter(r.status_code for r in results) == {204: 1, 400: 3}
    assert AuditEvent.objects.filter(event="password_reset_completed").count() == 1
