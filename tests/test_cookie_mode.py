"""Cookie mode: the refresh token travels in an HttpOnly cookie, never in the body."""

from __future__ import annotations

from secureauth.crypto import token_digest
from secureauth.models import RefreshToken, Session
from tests.conftest import PASSWORD, bearer, secureauth_settings

COOKIE = "secureauth_refresh"
HEADER = {"HTTP_X_SECUREAUTH_COOKIE": "1"}


def cookie_login(api, email: str, **headers):
    response = api.post(
        "/auth/login/", {"email": email, "password": PASSWORD}, format="json", **headers
    )
    assert response.status_code == 200, response.content
    return response


def assert_refresh_cookie(response) -> str:
    """The response sets the refresh cookie with every protection; returns its value."""
    body = response.json()
    assert "refresh_token" not in body
    assert body["access_token"]
    assert body["refresh_expires_in"] > 0
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] is True
    assert cookie["secure"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/auth/"
    assert int(cookie["max-age"]) == body["refresh_expires_in"]
    assert len(cookie.value) >= 43
    header = cookie.output()  # the Set-Cookie header line
    for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/auth/"):
        assert flag in header
    return cookie.value


def test_header_turns_cookie_mode_on(api, user):
    response = cookie_login(api, user.email, **HEADER)
    token = assert_refresh_cookie(response)
    assert bytes(RefreshToken.objects.get().token_hash) == token_digest(token)


def test_without_the_header_or_setting_the_token_is_in_the_body(api, user):
    response = cookie_login(api, user.email)
    assert "refresh_token" in response.json()
    assert COOKIE not in response.cookies


def test_setting_turns_cookie_mode_on(api, user):
    with secureauth_settings(REFRESH_TOKEN_COOKIE=True):
        response = cookie_login(api, user.email)
        assert_refresh_cookie(response)


def test_cookie_name_and_path_follow_the_settings(api, user):
    with secureauth_settings(REFRESH_COOKIE_NAME="rt", REFRESH_COOKIE_PATH="/auth/refresh/"):
        response = cookie_login(api, user.email, **HEADER)
        assert response.cookies["rt"]["path"] == "/auth/refresh/"
        assert COOKIE not in response.cookies


def test_refresh_from_the_cookie_rotates_it(api, user):
    first = assert_refresh_cookie(cookie_login(api, user.email, **HEADER))
    # The test client sends back the cookie it received, like a browser.
    response = api.post("/auth/refresh/", {}, format="json", **HEADER)
    assert response.status_code == 200, response.content
    second = assert_refresh_cookie(response)
    assert second != first
    assert RefreshToken.objects.get(token_hash=token_digest(first)).rotated_at is not None
    assert RefreshToken.objects.get(token_hash=token_digest(second)).rotated_at is None
    assert api.get("/auth/me/", **bearer(response.json())).status_code == 200

    third = api.post("/auth/refresh/", format="json", **HEADER)
    assert third.status_code == 200
    assert assert_refresh_cookie(third) not in (first, second)


def test_refresh_from_the_cookie_requires_the_header(api, user):
    token = assert_refresh_cookie(cookie_login(api, user.email, **HEADER))
    response = api.post("/auth/refresh/", {}, format="json")
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "permission_denied"
    assert set(response.json()) == {"detail", "code"}
    # Nothing happened to the token.
    assert RefreshToken.objects.get(token_hash=token_digest(token)).rotated_at is None


def test_refresh_from_the_cookie_requires_the_header_even_with_the_setting(api, user):
    with secureauth_settings(REFRESH_TOKEN_COOKIE=True):
        cookie_login(api, user.email)
        response = api.post("/auth/refresh/", {}, format="json")
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
        assert api.post("/auth/refresh/", {}, format="json", **HEADER).status_code == 200


def test_refresh_without_cookie_or_body_is_a_field_error(api, db):
    response = api.post("/auth/refresh/", {}, format="json", **HEADER)
    assert response.status_code == 400
    assert "refresh_token" in response.json()


def test_body_token_with_the_header_answers_in_cookie_mode(api, user):
    body = cookie_login(api, user.email).json()
    api.cookies.clear()
    response = api.post(
        "/auth/refresh/", {"refresh_token": body["refresh_token"]}, format="json", **HEADER
    )
    assert response.status_code == 200
    assert_refresh_cookie(response)


def test_reuse_of_a_cookie_token_is_detected(api, user):
    with secureauth_settings(REFRESH_REUSE_GRACE_SECONDS=0):
        first = assert_refresh_cookie(cookie_login(api, user.email, **HEADER))
        assert api.post("/auth/refresh/", {}, format="json", **HEADER).status_code == 200
        api.cookies[COOKIE] = first
        response = api.post("/auth/refresh/", {}, format="json", **HEADER)
        assert response.status_code == 401
        assert response.json()["code"] == "token_reused"


def test_logout_clears_the_cookie_and_ends_the_session(api, user):
    response = cookie_login(api, user.email, **HEADER)
    token = assert_refresh_cookie(response)
    logout = api.post("/auth/logout/", format="json", **HEADER, **bearer(response.json()))
    assert logout.status_code == 204
    cleared = logout.cookies[COOKIE]
    assert cleared.value == ""
    assert cleared["path"] == "/auth/"
    assert int(cleared["max-age"]) == 0
    assert "1970" in cleared["expires"]
    assert Session.objects.get().revoked_reason == "logout"

    api.cookies[COOKIE] = token
    refreshed = api.post("/auth/refresh/", {}, format="json", **HEADER)
    assert refreshed.status_code == 401
    assert refreshed.json()["code"] == "session_revoked"


def test_logout_with_the_cookie_of_another_session_of_the_user_ends_both(api, user):
    other = assert_refresh_cookie(cookie_login(api, user.email, **HEADER))
    current = cookie_login(api, user.email).json()
    api.cookies[COOKIE] = other
    assert api.post("/auth/logout/", **HEADER, **bearer(current)).status_code == 204
    assert not Session.objects.active().exists()


def test_logout_all_clears_the_cookie(api, user):
    response = cookie_login(api, user.email, **HEADER)
    logout = api.post("/auth/logout-all/", **HEADER, **bearer(response.json()))
    assert logout.status_code == 204
    assert logout.cookies[COOKIE].value == ""
