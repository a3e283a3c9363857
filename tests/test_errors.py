"""Errors always come back as JSON in the contract's format, never as HTML or a trace."""

from __future__ import annotations

import json
import socket
from unittest import mock

import pytest
from django.db import OperationalError, connection

from secureauth.models import Passkey, Session
from tests.conftest import PASSWORD, bearer, login, refresh, secureauth_settings

LEAKS = ("Traceback", "SELECT ", "INSERT ", "UPDATE ", "psycopg", "sqlite", 'File "', "md5$")


def assert_error_body(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail", "code"}, body
    assert isinstance(body["detail"], str) and body["detail"]
    if code is not None:
        assert body["code"] == code
    assert_no_leak(response)
    return body


def assert_no_leak(response, *secrets: str) -> None:
    text = response.content.decode()
    for marker in (*LEAKS, *secrets):
        assert marker not in text, f"response leaks {marker!r}: {text[:200]}"


# Request bodies


@pytest.mark.parametrize("path", ["/auth/login/", "/auth/register/", "/auth/refresh/"])
def test_malformed_json_is_a_400(api, db, path):
    response = api.post(path, data='{"email": "a@b.c", ', content_type="application/json")
    assert_error_body(response, 400, "invalid")


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "application/xml"]
)
def test_wrong_content_type_is_a_415(api, db, content_type):
    response = api.post("/auth/login/", data="email=a@b.c&password=x", content_type=content_type)
    assert_error_body(response, 415)


def test_multipart_is_refused(api, db):
    response = api.post("/auth/login/", {"email": "a@b.c", "password": "x"}, format="multipart")
    assert_error_body(response, 415)


@pytest.mark.parametrize("body", ["[]", '[{"email": "a@b.c"}]', '"text"', "42", "null", "true"])
def test_a_body_that_is_not_an_object_is_a_400(api, db, body):
    response = api.post("/auth/login/", data=body, content_type="application/json")
    assert_error_body(response, 400, "invalid")


def test_oversized_body_is_a_413(api, db):
    body = json.dumps({"email": "a@b.c", "password": "x" * (64 * 1024)})
    response = api.post("/auth/login/", data=body, content_type="application/json")
    assert_error_body(response, 413)


def test_body_limit_follows_the_setting(api, user):
    with secureauth_settings(MAX_REQUEST_BYTES=200):
        small = api.post("/auth/login/", {"email": user.email, "password": PASSWORD}, format="json")
        assert small.status_code == 200
        big = api.post(
            "/auth/login/",
            {"email": user.email, "password": PASSWORD, "device_name": "d" * 200},
            format="json",
        )
        assert_error_body(big, 413)


def test_empty_body_is_a_field_error(api, db):
    response = api.post("/auth/login/", data="", content_type="application/json")
    assert response.status_code == 400
    assert {"email", "password"} <= set(response.json())


def test_field_errors_use_drf_shape(api, db):
    response = api.post("/auth/login/", {"email": ["x"], "password": {}}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert isinstance(body["email"], list) and isinstance(body["password"], list)
    assert_no_leak(response)


# Routing


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/auth/nope/"),
        ("post", "/auth/nope/"),
        ("delete", "/auth/nope/"),
        ("put", "/auth/login/extra/"),
        ("get", "/auth/sessions/a/b/"),
        ("get", "/auth/login"),
        ("get", "/auth/"),
        ("patch", "/auth/.well-known/other.json"),
    ],
)
def test_unknown_path_is_a_json_404(api, db, method, path):
    response = getattr(api, method)(path)
    assert_error_body(response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/auth/login/"),
        ("get", "/auth/register/"),
        ("put", "/auth/refresh/"),
        ("delete", "/auth/login/"),
        ("post", "/auth/.well-known/jwks.json"),
    ],
)
def test_wrong_method_is_a_json_405(api, db, method, path):
    response = getattr(api, method)(path)
    body = assert_error_body(response, 405)
    assert body["code"] == "method_not_allowed"
    assert "POST" in response["Allow"] or "GET" in response["Allow"]


def test_wrong_method_on_an_authenticated_endpoint(api, user):
    tokens = login(api, user.email)
    response = api.put("/auth/me/", {}, format="json", **bearer(tokens))
    assert_error_body(response, 405, "method_not_allowed")


# The database being down


class Down(OperationalError):
    pass


def outage():
    return Down('connection to server at "127.0.0.1", port 5432 failed: SELECT * FROM x')


def test_database_down_on_login_is_a_503(api, db):
    with mock.patch("secureauth.services.login.find_user_by_email", side_effect=outage()):
        response = api.post(
            "/auth/login/", {"email": "a@example.com", "password": PASSWORD}, format="json"
        )
    assert_error_body(response, 503, "service_unavailable")
    assert response["Retry-After"]
    assert "5432" not in response.content.decode()


def test_database_down_on_refresh_is_a_503(api, user):
    tokens = login(api, user.email)
    with mock.patch("secureauth.models.tokens.RefreshTokenQuerySet.lookup", side_effect=outage()):
        response = refresh(api, tokens["refresh_token"])
    assert_error_body(response, 503, "service_unavailable")


def test_database_down_while_authenticating_is_a_503(api, user):
    tokens = login(api, user.email)
    with mock.patch("secureauth.authentication.user_with_session_state", side_effect=outage()):
        response = api.get("/auth/me/", **bearer(tokens))
    assert_error_body(response, 503, "service_unavailable")


def _unreachable_database() -> dict:
    """Connection settings of the test database pointing nowhere."""
    if connection.vendor == "sqlite":
        return {"NAME": "/nonexistent-secureauth-dir/db.sqlite3"}
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return {"HOST": "127.0.0.1", "PORT": port}


@pytest.mark.django_db(transaction=True)
def test_real_database_outage_is_a_503(api, user):
    tokens = login(api, user.email)
    connection.close()
    try:
        with mock.patch.dict(connection.settings_dict, _unreachable_database()):
            login_response = api.post(
                "/auth/login/", {"email": user.email, "password": PASSWORD}, format="json"
            )
            me_response = api.get("/auth/me/", **bearer(tokens))
            refresh_response = refresh(api, tokens["refresh_token"])
            connection.close()
    finally:
        connection.close()
    for response in (login_response, me_response, refresh_response):
        assert_error_body(response, 503, "service_unavailable")
    # Back up: everything works again.
    assert api.get("/auth/me/", **bearer(tokens)).status_code == 200


def test_unexpected_error_is_a_json_500_without_details(api, db):
    with mock.patch(
        "secureauth.services.login.find_user_by_email",
        side_effect=RuntimeError("secret internals at /srv/app.py line 3"),
    ):
        response = api.post(
            "/auth/login/", {"email": "a@example.com", "password": PASSWORD}, format="json"
        )
    body = assert_error_body(response, 500)
    assert "secret internals" not in body["detail"]


# Nothing leaks


def test_no_response_contains_a_password_hash_or_token_hash(api, user):
    user.refresh_from_db()
    tokens = login(api, user.email)
    from secureauth.crypto import hash_token

    secrets = (user.password, hash_token(tokens["refresh_token"]))
    responses = [
        api.get("/auth/me/", **bearer(tokens)),
        api.get("/auth/sessions/", **bearer(tokens)),
        refresh(api, tokens["refresh_token"]),
        api.post("/auth/login/", {"email": user.email, "password": PASSWORD}, format="json"),
        api.post("/auth/login/", {"email": user.email, "password": "wrong"}, format="json"),
        api.post("/auth/register/", {"email": user.email, "password": PASSWORD}, format="json"),
    ]
    for response in responses:
        assert_no_leak(response, *secrets)


# Ids in the path: ASCII digits or a UUID, nothing else

#: ``int()`` and ``uuid.UUID()`` read these digits like ASCII ones.
NON_ASCII_DIGITS = [
    str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"),  # Arabic-Indic
    str.maketrans("0123456789", "０１２３４５６７８９"),  # fullwidth
]
MALFORMED_IDS = ["²", "١٢", "１２", "9" * 40, "-1", "1e3", "%00", "0x1", "1_0"]


@pytest.fixture
def admin_api(api, make_user):
    """(client signed in as an admin, a second session of the admin, a passkey of the
    admin, another user): one of each thing a path id can name."""
    admin = make_user("admin@example.com", roles=["admin"])
    api.credentials(**bearer(login(api, admin.email)))
    other_session = login(api, admin.email)["session"]["id"]
    passkey = Passkey.objects.create(
        user=admin, name="key", credential_id=b"c", credential_id_hash="7" * 64, public_key=b"p"
    )
    return api, other_session, str(passkey.pk), make_user("target@example.com")


def _call(api, kind: str, some_id: str):
    if kind == "session":
        return api.delete(f"/auth/sessions/{some_id}/")
    if kind == "passkey":
        return api.delete(f"/auth/passkeys/{some_id}/", {"password": PASSWORD}, format="json")
    if kind == "roles":
        return api.post(f"/auth/users/{some_id}/roles/", {"roles": ["admin"]}, format="json")
    return api.post(f"/auth/users/{some_id}/revoke-sessions/")


KINDS = ["session", "passkey", "roles", "revoke-sessions"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad_id", MALFORMED_IDS)
def test_a_malformed_id_in_the_path_is_a_404(admin_api, kind, bad_id):
    api = admin_api[0]
    assert_error_body(_call(api, kind, bad_id), 404, "not_found")


@pytest.mark.parametrize(
    ("kind", "spelling"),
    [
        (kind, spelling)
        for spelling in ("arabic-indic", "fullwidth", "spaces", "plus")
        for kind in KINDS
    ],
)
def test_an_existing_id_spelt_otherwise_names_nothing(admin_api, kind, spelling):
    """A path id is the id as the API issued it, in ASCII: "١٢" must not reach user 12,
    nor a UUID spelt with other digits the session or passkey it resembles."""
    api, session_id, passkey_id, target = admin_api
    real = {"session": session_id, "passkey": passkey_id}.get(kind, str(target.pk))
    respelt = {
        "arabic-indic": real.translate(NON_ASCII_DIGITS[0]),
        "fullwidth": real.translate(NON_ASCII_DIGITS[1]),
        "spaces": f" {real} ",
        "plus": f"+{real}",
    }[spelling]
    assert respelt != real
    assert_error_body(_call(api, kind, respelt), 404, "not_found")
    assert Session.objects.get(pk=session_id).is_active()
    assert Passkey.objects.filter(pk=passkey_id).exists()
    assert not target.groups.exists()
