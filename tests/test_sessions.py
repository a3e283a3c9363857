"""The caller's device sessions: listing and revoking them."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from secureauth.models import AuditEvent, Session
from tests.conftest import PASSWORD, bearer, login, refresh

SESSION_FIELDS = {
    "id",
    "current",
    "created_at",
    "last_used_at",
    "expires_at",
    "ip",
    "user_agent",
    "device",
}
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)


def signin(api, email: str, device_name: str = "", **headers) -> dict:
    """Log in with request headers (User-Agent, REMOTE_ADDR, ...)."""
    body = {"email": email, "password": PASSWORD, "device_name": device_name}
    response = api.post("/auth/login/", body, format="json", **headers)
    assert response.status_code == 200, response.content
    return response.json()


def sessions_of(api, tokens):
    response = api.get("/auth/sessions/", **bearer(tokens))
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    return response.json()


def assert_iso_with_timezone(value: str) -> None:
    parsed = parse_datetime(value)
    assert parsed is not None, value
    assert parsed.tzinfo is not None, value
    assert value.endswith("Z") or value[-6] in "+-", value


def test_list_shows_active_sessions_newest_first(api, user, make_user):
    laptop = signin(api, user.email, "Work laptop", HTTP_USER_AGENT=CHROME)
    phone = signin(api, user.email, HTTP_USER_AGENT=IPHONE)
    current = signin(api, user.email, REMOTE_ADDR="203.0.113.7")
    login(api, make_user().email)  # someone else's session

    listed = sessions_of(api, current)
    assert [s["id"] for s in listed] == [
        current["session"]["id"],
        phone["session"]["id"],
        laptop["session"]["id"],
    ]
    for item in listed:
        assert set(item) == SESSION_FIELDS
        assert set(item["device"]) == {"name", "browser", "os", "type"}
        assert isinstance(item["id"], str)
        for field in ("created_at", "last_used_at", "expires_at"):
            assert_iso_with_timezone(item[field])
    assert [s["current"] for s in listed] == [True, False, False]

    newest, iphone, work = listed
    assert newest["ip"] == "203.0.113.7"
    assert iphone["ip"] == "127.0.0.1"
    assert iphone["user_agent"] == IPHONE
    assert iphone["device"] == {
        "name": "Mobile Safari on iOS",
        "browser": "Mobile Safari",
        "os": "iOS",
        "type": "mobile",
    }
    assert work["device"] == {
        "name": "Work laptop",
        "browser": "Chrome",
        "os": "Windows",
        "type": "desktop",
    }
    # The session object in a token response is the same object.
    assert newest == {**current["session"], "current": True}


def test_expiry_of_a_listed_session_is_its_absolute_end(api, user):
    tokens = login(api, user.email)
    (item,) = sessions_of(api, tokens)
    created = parse_datetime(item["created_at"])
    assert parse_datetime(item["expires_at"]) - created == timedelta(days=30)


def test_revoked_and_expired_sessions_are_not_listed(api, user):
    logged_out = login(api, user.email)
    expired = login(api, user.email)
    idle = login(api, user.email)
    current = login(api, user.email)
    assert api.post("/auth/logout/", **bearer(logged_out)).status_code == 204
    Session.objects.filter(pk=expired["session"]["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    Session.objects.filter(pk=idle["session"]["id"]).update(
        last_used_at=timezone.now() - timedelta(days=15)
    )
    assert [s["id"] for s in sessions_of(api, current)] == [current["session"]["id"]]


def test_list_requires_authentication(api, db):
    response = api.get("/auth/sessions/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_delete_another_own_session(api, user):
    other = login(api, user.email)
    current = login(api, user.email)
    response = api.delete(f"/auth/sessions/{other['session']['id']}/", **bearer(current))
    assert response.status_code == 204
    assert response.content == b""

    # Its tokens stop working at once; the caller's keep working.
    denied = api.get("/auth/me/", **bearer(other))
    assert (denied.status_code, denied.json()["code"]) == (401, "session_revoked")
    denied = refresh(api, other["refresh_token"])
    assert (denied.status_code, denied.json()["code"]) == (401, "session_revoked")
    assert api.get("/auth/me/", **bearer(current)).status_code == 200
    assert [s["id"] for s in sessions_of(api, current)] == [current["session"]["id"]]

    revoked = Session.objects.get(pk=other["session"]["id"])
    assert revoked.revoked_reason == "user"
    event = AuditEvent.objects.get(event="session_revoked")
    assert event.session_id == revoked.pk
    assert event.user_id == user.pk


def test_delete_the_current_session(api, user):
    tokens = login(api, user.email)
    response = api.delete(f"/auth/sessions/{tokens['session']['id']}/", **bearer(tokens))
    assert response.status_code == 204
    denied = api.get("/auth/me/", **bearer(tokens))
    assert (denied.status_code, denied.json()["code"]) == (401, "session_revoked")


@pytest.mark.parametrize(
    "session_id",
    [str(uuid.uuid4()), "not-a-uuid", "1", "%20", "00000000-0000-0000-0000-00000000000g"],
)
def test_delete_unknown_or_malformed_is_404(api, user, session_id):
    tokens = login(api, user.email)
    response = api.delete(f"/auth/sessions/{session_id}/", **bearer(tokens))
    assert response.status_code == 404, response.content
    assert response.json() == {"detail": response.json()["detail"], "code": "not_found"}


def test_delete_another_users_session_is_404_and_leaves_it_alone(api, user, make_user):
    victim = login(api, make_user().email)
    attacker = login(api, user.email)
    response = api.delete(f"/auth/sessions/{victim['session']['id']}/", **bearer(attacker))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert Session.objects.get(pk=victim["session"]["id"]).revoked_at is None
    assert api.get("/auth/me/", **bearer(victim)).status_code == 200


def test_delete_an_already_revoked_session_is_404(api, user):
    other = login(api, user.email)
    current = login(api, user.email)
    path = f"/auth/sessions/{other['session']['id']}/"
    assert api.delete(path, **bearer(current)).status_code == 204
    response = api.delete(path, **bearer(current))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_delete_requires_authentication(api, user):
    tokens = login(api, user.email)
    response = api.delete(f"/auth/sessions/{tokens['session']['id']}/")
    assert response.status_code == 401
    assert Session.objects.get().revoked_at is None


def test_an_idle_session_is_neither_listed_nor_deletable(api, user):
    """One definition of "active": a session idle past REFRESH_TOKEN_LIFETIME is hidden
    from the list, and DELETE answers 404 for it like for any session not listed."""
    from rest_framework.test import APIClient

    from secureauth.conf import app_settings

    current = login(api, user.email)
    idle = login(APIClient(), user.email)
    Session.objects.filter(pk=idle["session"]["id"]).update(
        last_used_at=timezone.now() - app_settings.REFRESH_TOKEN_LIFETIME - timedelta(minutes=1)
    )
    api.credentials(**bearer(current))
    listed = [s["id"] for s in api.get("/auth/sessions/").json()]
    assert listed == [current["session"]["id"]]
    response = api.delete(f"/auth/sessions/{idle['session']['id']}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
