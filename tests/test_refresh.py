"""Refresh-token rotation, reuse (theft) detection, the grace window and expiry."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import jwt
import pytest
from django.apps import apps
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from secureauth.crypto import token_digest
from secureauth.models import AuditEvent, RefreshToken, Session
from tests.conftest import TOKEN_FIELDS, bearer, login, refresh, secureauth_settings


def claims(access_token: str) -> dict:
    return jwt.decode(access_token, options={"verify_signature": False})


def row(token: str) -> RefreshToken:
    return RefreshToken.objects.get(token_hash=token_digest(token))


def age_rotation(token: str, seconds: float) -> None:
    """Pretend ``token`` was rotated ``seconds`` ago."""
    RefreshToken.objects.filter(token_hash=token_digest(token)).update(
        rotated_at=timezone.now() - timedelta(seconds=seconds)
    )


def at(offset_seconds: float):
    """Run the block as if the clock were ``offset_seconds`` ahead."""
    return mock.patch(
        "django.utils.timezone.now",
        return_value=timezone.now() + timedelta(seconds=offset_seconds),
    )


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert set(response.json()) == {"detail", "code"}


# Rotation


def test_refresh_returns_a_new_token_and_retires_the_old_one(api, user):
    first = login(api, user.email)
    response = refresh(api, first["refresh_token"])
    assert response.status_code == 200, response.content
    second = response.json()
    assert set(second) == TOKEN_FIELDS
    assert second["token_type"] == "Bearer"
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["session"]["id"] == first["session"]["id"]
    assert second["session"]["current"] is True
    assert second["user"]["email"] == user.email
    assert response["Cache-Control"] == "no-store"

    assert row(first["refresh_token"]).rotated_at is not None
    child = row(second["refresh_token"])
    assert child.rotated_at is None
    assert child.parent_id == row(first["refresh_token"]).pk
    assert api.get("/auth/me/", **bearer(second)).status_code == 200

    third = refresh(api, second["refresh_token"]).json()
    assert len({first["refresh_token"], second["refresh_token"], third["refresh_token"]}) == 3
    assert RefreshToken.objects.filter(rotated_at__isnull=True).count() == 1


def test_refresh_records_last_use_of_the_session(api, user):
    tokens = login(api, user.email)
    Session.objects.update(last_used_at=timezone.now() - timedelta(hours=1))
    before = timezone.now()
    body = refresh(api, tokens["refresh_token"]).json()
    session = Session.objects.get()
    assert session.last_used_at >= before
    assert parse_datetime(body["session"]["last_used_at"]) >= before
    listed = api.get("/auth/sessions/", **bearer(body)).json()[0]
    assert listed["last_used_at"] == body["session"]["last_used_at"]


def test_refresh_keeps_the_sessions_amr_and_roles(api, make_user):
    user = make_user("roles@example.com", roles=["staff", "admin"])
    tokens = login(api, user.email)
    assert claims(tokens["access_token"])["roles"] == ["admin", "staff"]
    Session.objects.update(amr=["pwd", "otp"])
    refreshed = refresh(api, tokens["refresh_token"]).json()
    access = claims(refreshed["access_token"])
    assert access["roles"] == ["admin", "staff"]
    assert access["amr"] == ["pwd", "otp"]
    assert access["sid"] == tokens["session"]["id"]
    assert access["sub"] == str(user.pk)
    assert refreshed["user"]["roles"] == ["admin", "staff"]


# Reuse detection and the grace window


def test_reuse_after_the_grace_window_is_theft(api, user):
    first = login(api, user.email)
    second = refresh(api, first["refresh_token"]).json()
    age_rotation(first["refresh_token"], 11)  # default grace: 10 s

    response = refresh(api, first["refresh_token"], HTTP_USER_AGENT="thief/1.0")
    assert_error(response, 401, "token_reused")
    assert response["WWW-Authenticate"] == "Bearer"

    session = Session.objects.get()
    assert session.revoked_at is not None
    assert session.revoked_reason == "reuse"
    # The newest refresh token and the access tokens of the session stop working.
    assert_error(refresh(api, second["refresh_token"]), 401, "session_revoked")
    assert_error(api.get("/auth/me/", **bearer(second)), 401, "session_revoked")
    assert_error(api.get("/auth/me/", **bearer(first)), 401, "session_revoked")

    event = AuditEvent.objects.get(event="refresh_token_reused")
    assert event.user_id == user.pk
    assert event.session_id == session.pk
    assert event.user_agent == "thief/1.0"


def test_reuse_detection_revokes_only_that_session(api, user):
    stolen = login(api, user.email)
    other = login(api, user.email)
    refresh(api, stolen["refresh_token"])
    age_rotation(stolen["refresh_token"], 60)
    assert_error(refresh(api, stolen["refresh_token"]), 401, "token_reused")
    assert api.get("/auth/me/", **bearer(other)).status_code == 200
    assert refresh(api, other["refresh_token"]).status_code == 200


def test_parent_retried_inside_the_grace_window_gets_the_same_child(api, user):
    first = login(api, user.email)
    second = refresh(api, first["refresh_token"]).json()

    retry = refresh(api, first["refresh_token"])
    assert retry.status_code == 200, retry.content
    again = retry.json()
    assert again["refresh_token"] == second["refresh_token"]
    assert again["access_token"] != second["access_token"]
    assert claims(again["access_token"])["jti"] != claims(second["access_token"])["jti"]
    assert again["session"]["id"] == second["session"]["id"]

    assert Session.objects.get().revoked_at is None
    assert RefreshToken.objects.count() == 2
    assert not AuditEvent.objects.filter(event="refresh_token_reused").exists()
    assert api.get("/auth/me/", **bearer(again)).status_code == 200
    assert refresh(api, second["refresh_token"]).status_code == 200


@pytest.mark.parametrize(("elapsed", "status"), [(25, 200), (31, 401)])
def test_grace_window_follows_the_setting(api, user, elapsed, status):
    with secureauth_settings(REFRESH_REUSE_GRACE_SECONDS=30):
        first = login(api, user.email)
        second = refresh(api, first["refresh_token"]).json()
        with at(elapsed):
            response = refresh(api, first["refresh_token"])
        assert response.status_code == status, response.content
        if status == 200:
            assert response.json()["refresh_token"] == second["refresh_token"]
        else:
            assert response.json()["code"] == "token_reused"
            assert Session.objects.get().revoked_reason == "reuse"


def test_parent_is_theft_once_its_child_was_rotated(api, user):
    first = login(api, user.email)
    second = refresh(api, first["refresh_token"]).json()
    third = refresh(api, second["refresh_token"]).json()

    assert_error(refresh(api, first["refresh_token"]), 401, "token_reused")
    assert Session.objects.get().revoked_reason == "reuse"
    assert_error(refresh(api, third["refresh_token"]), 401, "session_revoked")
    assert_error(api.get("/auth/me/", **bearer(third)), 401, "session_revoked")
    assert AuditEvent.objects.filter(event="refresh_token_reused").count() == 1


def test_without_a_grace_window_any_reuse_is_theft(api, user):
    with secureauth_settings(REFRESH_REUSE_GRACE_SECONDS=0):
        first = login(api, user.email)
        second = refresh(api, first["refresh_token"]).json()
        assert_error(refresh(api, first["refresh_token"]), 401, "token_reused")
        assert_error(refresh(api, second["refresh_token"]), 401, "session_revoked")
        assert AuditEvent.objects.filter(event="refresh_token_reused").exists()


# Expiry


def test_idle_timeout_expires_the_refresh_token(api, user):
    with secureauth_settings(REFRESH_TOKEN_LIFETIME=60):
        tokens = login(api, user.email)
        assert tokens["refresh_expires_in"] == 60
        with at(59):
            tokens = refresh(api, tokens["refresh_token"]).json()
        with at(59 + 61):
            response = refresh(api, tokens["refresh_token"])
        assert_error(response, 401, "token_expired")


def test_idle_timeout_from_stored_expiry(api, user):
    tokens = login(api, user.email)
    RefreshToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(refresh(api, tokens["refresh_token"]), 401, "token_expired")


def test_absolute_session_lifetime_caps_refresh(api, user):
    with secureauth_settings(SESSION_MAX_AGE=3600, REFRESH_TOKEN_LIFETIME=7200):
        tokens = login(api, user.email)
        assert tokens["refresh_expires_in"] == 3600
        with at(1800):
            tokens = refresh(api, tokens["refresh_token"]).json()
        assert tokens["refresh_expires_in"] <= 1800 + 1
        with at(3601):
            response = refresh(api, tokens["refresh_token"])
        assert_error(response, 401, "token_expired")


def test_session_past_its_maximum_age_cannot_refresh(api, user):
    tokens = login(api, user.email)
    Session.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(refresh(api, tokens["refresh_token"]), 401, "token_expired")
    assert_error(api.get("/auth/me/", **bearer(tokens)), 401, "token_expired")


# Bad input


@pytest.mark.parametrize(
    "token",
    [
        "A" * 43,  # well-formed, unknown
        "abc",  # too short
        "not a refresh token!",  # wrong alphabet
        "x" * 200,  # too long for a token
        "12345678901234567890",
    ],
)
def test_unknown_or_malformed_token_is_invalid(api, user, token):
    login(api, user.email)
    assert_error(refresh(api, token), 401, "token_invalid")


def test_an_access_token_is_not_a_refresh_token(api, user):
    tokens = login(api, user.email)
    response = refresh(api, tokens["access_token"])
    assert response.status_code in (400, 401)  # too long for the field, or not a token
    assert "access_token" not in response.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "refresh_token"),
        ({"refresh_token": ""}, "refresh_token"),
        ({"refresh_token": None}, "refresh_token"),
        ({"refresh_token": ["x"]}, "refresh_token"),
    ],
)
def test_missing_or_wrongly_typed_field_is_a_field_error(api, db, body, field):
    response = api.post("/auth/refresh/", body, format="json")
    assert response.status_code == 400, response.content
    assert isinstance(response.json()[field], list)


def test_refresh_of_a_disabled_account_is_refused(api, user):
    tokens = login(api, user.email)
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    response = refresh(api, tokens["refresh_token"])
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


# At rest


def test_refresh_tokens_are_stored_only_as_hashes(api, user):
    first = login(api, user.email)
    second = refresh(api, first["refresh_token"]).json()
    refresh(api, first["refresh_token"])  # grace retry
    plaintexts = [first["refresh_token"], second["refresh_token"]]

    for token in plaintexts:
        stored = row(token)
        assert stored.token_hash != token
        assert len(stored.token_hash) == 32 and bytes(stored.token_hash) == token_digest(token)

    # No column of any SecureAuth table holds a plaintext token.
    for model in apps.get_app_config("secureauth").get_models():
        for values in model.objects.values():
            dumped = repr(values)
            for token in plaintexts:
                assert token not in dumped, f"{model.__name__} stores a refresh token"


def test_the_child_cannot_be_computed_from_the_key_and_the_parent(api, user):
    """With SECRET_KEY known (a leaked or published key), HMAC(key, parent) used to be
    the current token: an old token then walked the chain without tripping reuse
    detection. The child now mixes in a random value kept only in the database."""
    import base64
    import hashlib
    import hmac

    from secureauth.crypto import _hmac_key

    parent = login(api, user.email)["refresh_token"]
    old_rule = (
        base64.urlsafe_b64encode(hmac.new(_hmac_key(), parent.encode(), hashlib.sha256).digest())
        .rstrip(b"=")
        .decode()
    )
    response = refresh(api, parent)
    assert response.status_code == 200
    child = response.json()["refresh_token"]
    assert child != old_rule
    forged = refresh(api, old_rule)
    assert_error(forged, 401, "token_invalid")
    assert refresh(api, child).status_code == 200
