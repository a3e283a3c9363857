"""The audit log: events written with user, session, IP, user agent and detail;
GET audit/; the structured log line; the signals host projects hook."""

from __future__ import annotations

import json
import logging

import pytest

from secureauth import signals
from secureauth.models import AuditEvent
from tests.conftest import PASSWORD, bearer, login, refresh, secureauth_settings

UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
IP = "203.0.113.10"
CLIENT = {"REMOTE_ADDR": IP, "HTTP_USER_AGENT": UA}


def login_from_client(api, email: str) -> dict:
    """Sign in with CLIENT's IP and user agent."""
    response = api.post(
        "/auth/login/", {"email": email, "password": PASSWORD}, format="json", **CLIENT
    )
    assert response.status_code == 200, response.content
    return response.json()


def events(name: str):
    return list(AuditEvent.objects.filter(event=name).order_by("created_at", "pk"))


def only(name: str) -> AuditEvent:
    found = events(name)
    assert len(found) == 1, [e.event for e in AuditEvent.objects.all()]
    return found[0]


@pytest.fixture
def received():
    """Connect a receiver to every SecureAuth signal; yields {signal name: [kwargs...]}."""
    names = [
        "session_revoked",
        "refresh_token_reused",
        "login_failed",
        "login_succeeded",
        "login_rate_limited",
        "roles_changed",
        "audit_event",
    ]
    got: dict[str, list[dict]] = {name: [] for name in names}
    handlers = {}
    for name in names:

        def handler(sender, _name=name, **kwargs):
            kwargs.pop("signal", None)
            got[_name].append(kwargs)

        handlers[name] = handler
        getattr(signals, name).connect(handler)
    yield got
    for name, handler in handlers.items():
        getattr(signals, name).disconnect(handler)


def test_register_and_login_events(api, db, received):
    response = api.post(
        "/auth/register/",
        {"email": "new@example.com", "password": PASSWORD},
        format="json",
        **CLIENT,
    )
    assert response.status_code == 201
    user_id = int(response.json()["user"]["id"])
    event = only("register")
    assert (event.user_id, event.session_id, event.ip, event.user_agent) == (user_id, None, IP, UA)

    tokens = login_from_client(api, "new@example.com")
    event = only("login_succeeded")
    assert event.user_id == user_id
    assert str(event.session_id) == tokens["session"]["id"]
    assert (event.ip, event.user_agent, event.detail) == (IP, UA, {"amr": ["pwd"]})
    assert event.created_at is not None
    assert [kw["user"].pk for kw in received["login_succeeded"]] == [user_id]
    assert str(received["login_succeeded"][0]["session"].pk) == tokens["session"]["id"]


def test_failed_and_rate_limited_logins_are_audited(api, user, received):
    api.post("/auth/login/", {"email": user.email, "password": "no"}, format="json", **CLIENT)
    api.post("/auth/login/", {"email": "ghost@example.com", "password": "no"}, format="json")
    known, unknown = events("login_failed")
    assert (known.user_id, known.ip, known.user_agent) == (user.pk, IP, UA)
    assert known.detail == {"email": user.email}
    assert unknown.user_id is None and unknown.detail == {"email": "ghost@example.com"}
    assert [(kw["email"], kw["user"] and kw["user"].pk) for kw in received["login_failed"]] == [
        (user.email, user.pk),
        ("ghost@example.com", None),
    ]
    assert received["login_failed"][0]["ip"] == IP

    for _ in range(4):
        api.post("/auth/login/", {"email": user.email, "password": "no"}, format="json")
    # The fifth failure locks the email and the IP: one event for that lock...
    event = only("login_rate_limited")
    assert event.detail == {"email": user.email, "locked": ["email", "ip"], "retry_after": 30}
    assert received["login_rate_limited"] == [{"key": user.email, "retry_after": 30}]
    # ...and none for the attempts it refuses.
    for _ in range(3):
        response = api.post(
            "/auth/login/", {"email": user.email, "password": PASSWORD}, format="json"
        )
        assert response.status_code == 429
    assert AuditEvent.objects.filter(event="login_rate_limited").count() == 1


def test_logout_logout_all_and_session_revoked_events(api, user, received):
    first = login(api, user.email)
    second = login(api, user.email)
    third = login(api, user.email)
    response = api.delete(f"/auth/sessions/{second['session']['id']}/", **bearer(first), **CLIENT)
    assert response.status_code == 204
    event = only("session_revoked")
    assert str(event.session_id) == second["session"]["id"]
    assert (event.user_id, event.ip, event.user_agent, event.detail) == (
        user.pk,
        IP,
        UA,
        {"reason": "user"},
    )
    assert api.post("/auth/logout/", **bearer(first), **CLIENT).status_code == 204
    event = only("logout")
    assert str(event.session_id) == first["session"]["id"]
    assert event.detail == {"reason": "logout"}
    assert api.post("/auth/logout-all/", **bearer(third), **CLIENT).status_code == 204
    event = only("logout_all")
    assert (event.user_id, event.ip, event.detail) == (user.pk, IP, {"sessions_revoked": 1})
    reasons = [kw["reason"] for kw in received["session_revoked"]]
    assert reasons == ["user", "logout", "logout_all"]


def test_refresh_token_reuse_is_audited_and_signalled(api, user, received):
    tokens = login(api, user.email)
    with secureauth_settings(REFRESH_REUSE_GRACE_SECONDS=0):
        assert refresh(api, tokens["refresh_token"]).status_code == 200
        response = refresh(api, tokens["refresh_token"], **CLIENT)
    assert response.json()["code"] == "token_reused"
    event = only("refresh_token_reused")
    assert str(event.session_id) == tokens["session"]["id"]
    assert (event.user_id, event.ip, event.user_agent) == (user.pk, IP, UA)
    assert set(event.detail) >= {"token_id", "rotated_at"}
    assert [str(kw["session"].pk) for kw in received["refresh_token_reused"]] == [
        tokens["session"]["id"]
    ]
    assert received["session_revoked"][-1]["reason"] == "reuse"


def test_every_event_is_a_structured_log_line(api, user, caplog, received):
    caplog.set_level(logging.INFO, logger="secureauth")
    api.post("/auth/login/", {"email": user.email, "password": "no"}, format="json", **CLIENT)
    tokens = login_from_client(api, user.email)
    lines = [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.name == "secureauth" and getattr(r, "secureauth_event", None)
    ]
    assert [line["event"] for line in lines] == ["login_failed", "login_succeeded"]
    failed, succeeded = lines
    assert failed == {
        "event": "login_failed",
        "user": str(user.pk),
        "session": None,
        "ip": IP,
        "user_agent": UA,
        "time": failed["time"],
        "detail": {"email": user.email},
    }
    assert succeeded["session"] == tokens["session"]["id"]
    assert succeeded["time"].endswith("Z") or "+00:00" in succeeded["time"]
    assert [kw["event"].event for kw in received["audit_event"]] == [
        "login_failed",
        "login_succeeded",
    ]


# --- GET audit/ -----------------------------------------------------------------------


def test_audit_lists_own_events_newest_first(api, user, make_user):
    other = make_user("other@example.com")
    api.post("/auth/login/", {"email": user.email, "password": "no"}, format="json", **CLIENT)
    login(api, other.email)
    tokens = login_from_client(api, user.email)
    response = api.get("/auth/audit/", **bearer(tokens))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 2
    assert [e["event"] for e in body["results"]] == ["login_succeeded", "login_failed"]
    newest = body["results"][0]
    assert set(newest) == {"id", "event", "created_at", "session", "ip", "user_agent", "detail"}
    assert newest["session"] == tokens["session"]["id"]
    assert (newest["ip"], newest["user_agent"], newest["detail"]) == (IP, UA, {"amr": ["pwd"]})
    assert isinstance(newest["id"], str)
    assert newest["created_at"].endswith("Z")


def test_audit_is_paginated(api, user):
    for _ in range(4):
        api.post("/auth/login/", {"email": user.email, "password": "no"}, format="json")
    tokens = login(api, user.email)  # 5 events in all
    first = api.get("/auth/audit/?page_size=2", **bearer(tokens)).json()
    assert first["count"] == 5
    assert len(first["results"]) == 2
    assert first["previous"] is None and "page=2" in first["next"]
    assert first["results"][0]["event"] == "login_succeeded"
    last = api.get("/auth/audit/?page=3&page_size=2", **bearer(tokens)).json()
    assert len(last["results"]) == 1 and last["next"] is None
    ids = [
        e["id"]
        for page in (1, 2, 3)
        for e in api.get(f"/auth/audit/?page={page}&page_size=2", **bearer(tokens)).json()[
            "results"
        ]
    ]
    assert len(set(ids)) == 5
    # Default page size 20, at most 100 per page.
    assert len(api.get("/auth/audit/?page_size=1000", **bearer(tokens)).json()["results"]) == 5
    response = api.get("/auth/audit/?page=9", **bearer(tokens))
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    response = api.get("/auth/audit/?page=abc", **bearer(tokens))
    assert response.status_code == 404


def test_audit_requires_a_token(api, db):
    response = api.get("/auth/audit/")
    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")


def test_audit_hides_the_administrator_who_acted(api, user, make_user):
    admin = make_user("root@example.com", roles=["admin"])
    admin_tokens = login(api, admin.email)
    api.post(
        f"/auth/users/{user.pk}/roles/",
        {"roles": ["editor"]},
        format="json",
        REMOTE_ADDR="198.51.100.99",
        HTTP_USER_AGENT="AdminConsole/1.0",
        **bearer(admin_tokens),
    )
    tokens = login(api, user.email)
    results = api.get("/auth/audit/", **bearer(tokens)).json()["results"]
    changed = next(e for e in results if e["event"] == "roles_changed")
    assert changed["ip"] is None and changed["user_agent"] == ""
    assert changed["detail"] == {
        "added": ["editor"],
        "removed": [],
        "roles": ["editor"],
        "by_administrator": True,
    }
    assert "198.51.100.99" not in json.dumps(results)
    assert "actor" not in changed["detail"]


def test_password_change_is_audited(api, user):
    tokens = login(api, user.email)
    response = api.post(
        "/auth/password/change/",
        {"current_password": PASSWORD, "new_password": "another long passphrase 7"},
        format="json",
        **bearer(tokens),
        **CLIENT,
    )
    assert response.status_code == 204
    event = only("password_changed")
    assert (event.user_id, event.ip, event.user_agent) == (user.pk, IP, UA)
    assert str(event.session_id) == tokens["session"]["id"]
