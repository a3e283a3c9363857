from secureauth.models import AuditEvent, Session
from tests.conftest import PASSWORD, TOKEN_FIELDS, bearer, login


def test_register_then_login_returns_token_response(api, db):
    response = api.post(
        "/auth/register/", {"email": "New@Example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201
    user = response.json()["user"]
    assert user["email"] == "new@example.com"
    assert set(user) == {"id", "email", "roles", "email_verified", "mfa_enabled", "date_joined"}
    assert isinstance(user["id"], str)

    tokens = login(api, "new@example.com", device_name="Work laptop")
    assert set(tokens) == TOKEN_FIELDS
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 900
    assert tokens["refresh_expires_in"] == 14 * 24 * 3600
    assert tokens["session"]["current"] is True
    assert tokens["session"]["device"]["name"] == "Work laptop"
    assert len(tokens["refresh_token"]) >= 43


def test_login_response_is_not_cacheable(api, user):
    response = api.post("/auth/login/", {"email": user.email, "password": PASSWORD}, format="json")
    assert response["Cache-Control"] == "no-store"


def test_wrong_password_and_unknown_email_answer_the_same(api, user):
    wrong = api.post("/auth/login/", {"email": user.email, "password": "nope"}, format="json")
    unknown = api.post(
        "/auth/login/", {"email": "ghost@example.com", "password": "nope"}, format="json"
    )
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {"detail": "Invalid email or password.", "code": "invalid_credentials"}
    )
    assert AuditEvent.objects.filter(event="login_failed").count() == 2


def test_me_requires_bearer(api, db):
    response = api.get("/auth/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_me_returns_user(signed_in, user):
    client, _ = signed_in
    response = client.get("/auth/me/")
    assert response.status_code == 200
    assert response.json()["email"] == user.email


def test_logout_revokes_the_session_and_its_access_token(signed_in, user):
    client, tokens = signed_in
    assert client.post("/auth/logout/").status_code == 204
    assert Session.objects.get().revoked_reason == "logout"
    response = client.get("/auth/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "session_revoked"
    refreshed = client.post(
        "/auth/refresh/", {"refresh_token": tokens["refresh_token"]}, format="json"
    )
    assert refreshed.json()["code"] == "session_revoked"


def test_logout_all_revokes_every_session(api, user):
    first = login(api, user.email)
    second = login(api, user.email)
    assert api.post("/auth/logout-all/", **bearer(first)).status_code == 204
    assert api.get("/auth/me/", **bearer(second)).json()["code"] == "session_revoked"
    assert not Session.objects.active().exists()
    assert AuditEvent.objects.filter(event="logout_all").exists()


def test_revocation_is_seen_by_another_server_process(transactional_db, user):
    """Revoke through the test process; a separate gunicorn process refuses the token at once."""
    import json
    import urllib.error
    import urllib.request

    from django.conf import settings

    from tests.servers import running_server

    # As in production, the server shares this process's cache (its session cache too).
    prefix = settings.CACHES["default"].get("KEY_PREFIX")
    with running_server({"TEST_CACHE_KEY_PREFIX": prefix} if prefix else {}) as base:

        def call(path, token=None, body=None):
            request = urllib.request.Request(
                base + path,
                data=json.dumps(body).encode() if body is not None else None,
                headers={
                    "Content-Type": "application/json",
                    **({"Authorization": f"Bearer {token}"} if token else {}),
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, json.loads(response.read() or b"null")
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read() or b"null")

        status, tokens = call("/auth/login/", body={"email": user.email, "password": PASSWORD})
        assert status == 200
        assert call("/auth/me/", tokens["access_token"])[0] == 200
        Session.objects.filter(pk=tokens["session"]["id"]).revoke("admin")
        status, body = call("/auth/me/", tokens["access_token"])
        assert (status, body["code"]) == (401, "session_revoked")
