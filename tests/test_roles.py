"""users/<id>/roles/ and users/<id>/revoke-sessions/ (role admin), and the roles claim."""

from __future__ import annotations

import jwt
import pytest
from django.contrib.auth.models import Group

from secureauth import signals
from secureauth.models import AuditEvent, Session
from tests.conftest import bearer, login, refresh


def claims(tokens: dict) -> dict:
    return jwt.decode(tokens["access_token"], options={"verify_signature": False})


@pytest.fixture
def admin(api, make_user):
    user = make_user("root@example.com", roles=["admin"])
    return user, login(api, user.email)


def set_roles(api, tokens, user_id, roles, **extra):
    return api.post(
        f"/auth/users/{user_id}/roles/", {"roles": roles}, format="json", **bearer(tokens), **extra
    )


def test_admin_sets_roles_creating_missing_groups(api, admin, user):
    _, tokens = admin
    response = set_roles(api, tokens, user.pk, ["editor", "billing", "editor"])
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(user.pk)
    assert body["email"] == user.email
    assert body["roles"] == ["billing", "editor"]
    assert set(body) == {"id", "email", "roles", "email_verified", "mfa_enabled", "date_joined"}
    assert response["Cache-Control"] == "no-store"
    assert set(Group.objects.values_list("name", flat=True)) == {"admin", "editor", "billing"}
    # Setting means replacing: what is not listed is withdrawn.
    response = set_roles(api, tokens, user.pk, ["billing"])
    assert response.json()["roles"] == ["billing"]
    assert set_roles(api, tokens, user.pk, []).json()["roles"] == []
    assert list(user.groups.all()) == []


def test_roles_change_is_audited_and_signalled(api, admin, user):
    admin_user, tokens = admin
    received = []
    handler = lambda sender, **kw: received.append(kw)  # noqa: E731
    signals.roles_changed.connect(handler)
    try:
        set_roles(api, tokens, user.pk, ["editor"], REMOTE_ADDR="203.0.113.5")
        set_roles(api, tokens, user.pk, ["editor"])  # no change: nothing recorded
        set_roles(api, tokens, user.pk, ["viewer"])
    finally:
        signals.roles_changed.disconnect(handler)
    events = list(AuditEvent.objects.filter(event="roles_changed").order_by("created_at", "pk"))
    assert len(events) == 2
    first, second = events
    assert first.user_id == user.pk
    assert first.ip == "203.0.113.5"
    assert first.detail == {
        "added": ["editor"],
        "removed": [],
        "roles": ["editor"],
        "actor": str(admin_user.pk),
    }
    assert second.detail["added"] == ["viewer"] and second.detail["removed"] == ["editor"]
    assert [(kw["user"].pk, kw["roles"]) for kw in received] == [
        (user.pk, ["editor"]),
        (user.pk, ["viewer"]),
    ]


def test_roles_claim_follows_a_role_change_on_next_refresh_and_login(api, admin, user):
    _, admin_tokens = admin
    mine = login(api, user.email)
    assert claims(mine)["roles"] == []
    assert set_roles(api, admin_tokens, user.pk, ["editor", "author"]).status_code == 200
    assert claims(mine)["roles"] == []  # an issued token is not rewritten
    refreshed = refresh(api, mine["refresh_token"]).json()
    assert claims(refreshed)["roles"] == ["author", "editor"]
    assert refreshed["user"]["roles"] == ["author", "editor"]
    assert claims(login(api, user.email))["roles"] == ["author", "editor"]


def test_non_admin_gets_403_and_anonymous_401(api, user, make_user):
    other = make_user("other@example.com", roles=["staff"])
    tokens = login(api, other.email)
    response = set_roles(api, tokens, user.pk, ["admin"])
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    response = api.post(f"/auth/users/{user.pk}/revoke-sessions/", **bearer(tokens))
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert list(user.groups.all()) == []
    for path in (f"/auth/users/{user.pk}/roles/", f"/auth/users/{user.pk}/revoke-sessions/"):
        response = api.post(path, {"roles": []}, format="json")
        assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")
        assert response["WWW-Authenticate"] == "Bearer"


def test_unknown_or_malformed_user_id_is_404(api, admin):
    _, tokens = admin
    for user_id in ("999999", "not-a-number", "9" * 30, "-1"):
        response = set_roles(api, tokens, user_id, ["x"])
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), user_id
        response = api.post(f"/auth/users/{user_id}/revoke-sessions/", **bearer(tokens))
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), user_id
    assert not Group.objects.filter(name="x").exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"roles": "admin"},
        {"roles": [1]},
        {"roles": [None]},
        {"roles": [""]},
        {"roles": ["   "]},
        {"roles": ["x" * 151]},
        {"roles": [["nested"]]},
        {"roles": [f"r{i}" for i in range(101)]},
    ],
)
def test_bad_roles_body_is_a_field_error(api, admin, user, body):
    _, tokens = admin
    response = api.post(f"/auth/users/{user.pk}/roles/", body, format="json", **bearer(tokens))
    assert response.status_code == 400, response.content
    assert "roles" in response.json()


def test_withdrawn_admin_role_counts_at_once(api, admin, user, make_user):
    admin_user, tokens = admin
    second = make_user("second@example.com", roles=["admin"])
    second_tokens = login(api, second.email)
    assert set_roles(api, second_tokens, admin_user.pk, []).status_code == 200
    # The first admin's token still claims "admin"; the database says otherwise.
    assert "admin" in claims(tokens)["roles"]
    assert set_roles(api, tokens, user.pk, ["admin"]).status_code == 403


def test_admin_revokes_every_session_of_a_user(api, admin, user):
    admin_user, admin_tokens = admin
    first, second = login(api, user.email), login(api, user.email)
    revoked = []
    handler = lambda sender, **kw: revoked.append(kw["session"].pk)  # noqa: E731
    signals.session_revoked.connect(handler)
    try:
        response = api.post(
            f"/auth/users/{user.pk}/revoke-sessions/",
            REMOTE_ADDR="203.0.113.9",
            **bearer(admin_tokens),
        )
    finally:
        signals.session_revoked.disconnect(handler)
    assert response.status_code == 204
    assert response.content == b""
    for tokens in (first, second):
        response = api.get("/auth/me/", **bearer(tokens))
        assert (response.status_code, response.json()["code"]) == (401, "session_revoked")
        assert refresh(api, tokens["refresh_token"]).json()["code"] == "session_revoked"
    assert set(Session.objects.filter(user=user).values_list("revoked_reason", flat=True)) == {
        "admin"
    }
    assert len(revoked) == 2
    events = AuditEvent.objects.filter(event="session_revoked", user=user)
    assert events.count() == 2
    assert all(e.detail == {"reason": "admin", "actor": str(admin_user.pk)} for e in events)
    assert all(e.ip == "203.0.113.9" for e in events)
    # The admin's own session is untouched.
    assert api.get("/auth/me/", **bearer(admin_tokens)).status_code == 200
    # Nothing left to revoke: still 204.
    response = api.post(f"/auth/users/{user.pk}/revoke-sessions/", **bearer(admin_tokens))
    assert response.status_code == 204
