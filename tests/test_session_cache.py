"""The shared session cache: authenticated requests that cost no query, and every
change that must end them seen on the very next request.

These run in one process with the cache forced on (``SESSION_CACHE: True``), on the
local-memory cache in the SQLite run and on Redis in the PostgreSQL run; the
two-process proofs are in test_session_cache_processes.py.
"""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import override_settings
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from secureauth import races, session_cache
from secureauth.models import Session, VerifiedEmail
from secureauth.services.notifications import report_token
from secureauth.services.passwords import password_reset_token
from tests.conftest import PASSWORD, bearer, login, refresh, secureauth_settings

NEW_PASSWORD = "a-brand-new-passphrase-42"


@pytest.fixture(autouse=True)
def _session_cache_on():
    with secureauth_settings(SESSION_CACHE=True):
        yield


def me(api, tokens):
    return api.get("/auth/me/", **bearer(tokens))


def warm(api, tokens) -> None:
    """First request fills the entry; the second is served from it."""
    assert me(api, tokens).status_code == 200
    assert me(api, tokens).status_code == 200


def assert_revoked(api, tokens) -> None:
    response = me(api, tokens)
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "session_revoked"


def test_a_cached_session_costs_no_query(api, user, django_assert_num_queries):
    tokens = login(api, user.email)
    with django_assert_num_queries(1):  # the miss: one query, which fills the entry
        assert me(api, tokens).status_code == 200
    with django_assert_num_queries(0):
        body = me(api, tokens).json()
        assert api.get("/test/host-view/", **bearer(tokens)).status_code == 200
        assert api.get("/test/mfa-only/", **bearer(tokens)).status_code == 403
    assert body["email"] == user.email and body["email_verified"] is True


def test_the_entry_holds_no_password_hash(api, user):
    tokens = login(api, user.email)
    warm(api, tokens)
    entry = session_cache._cache().get(session_cache.session_key(tokens["session"]["id"]))
    assert user.password not in repr(entry)
    assert user.email in repr(entry)


@pytest.mark.parametrize(
    ("backend", "shared"),
    [
        ("django.core.cache.backends.locmem.LocMemCache", False),
        ("django.core.cache.backends.dummy.DummyCache", False),
        ("django.core.cache.backends.db.DatabaseCache", False),
        ("django.core.cache.backends.redis.RedisCache", True),
        ("django_redis.cache.RedisCache", True),
        ("django.core.cache.backends.memcached.PyMemcacheCache", True),
    ],
)
def test_on_by_default_only_for_a_cache_shared_between_processes(backend, shared):
    caches = {"default": {"BACKEND": backend, "LOCATION": "x"}}
    with secureauth_settings(SESSION_CACHE=None), override_settings(CACHES=caches):
        assert session_cache.enabled() is shared
    with secureauth_settings(SESSION_CACHE=False), override_settings(CACHES=caches):
        assert session_cache.enabled() is False


def test_with_the_cache_off_each_request_is_one_query(api, user, django_assert_num_queries):
    tokens = login(api, user.email)
    with secureauth_settings(SESSION_CACHE=False):
        for _ in range(2):
            with django_assert_num_queries(1):
                assert me(api, tokens).status_code == 200


# Every path that ends a session, each seen by the next request of a cached session.


def _logout(api, user, tokens, other):
    assert api.post("/auth/logout/", **bearer(tokens)).status_code == 204
    return tokens


def _logout_all(api, user, tokens, other):
    assert api.post("/auth/logout-all/", **bearer(other)).status_code == 204
    return tokens


def _delete_session(api, user, tokens, other):
    path = f"/auth/sessions/{tokens['session']['id']}/"
    assert api.delete(path, **bearer(other)).status_code == 204
    return tokens


def _reuse_detected(api, user, tokens, other):
    first = refresh(api, tokens["refresh_token"]).json()
    assert refresh(api, first["refresh_token"]).status_code == 200
    warm(api, first)  # the newest access token of the session is the cached one
    assert refresh(api, tokens["refresh_token"]).json()["code"] == "token_reused"
    return first


def _password_change(api, user, tokens, other):
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    response = api.post("/auth/password/change/", body, format="json", **bearer(other))
    assert response.status_code == 204, response.content
    return tokens


def _password_reset(api, user, tokens, other):
    body = {
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": password_reset_token.make_token(user),
        "new_password": NEW_PASSWORD,
    }
    assert api.post("/auth/password/reset/confirm/", body, format="json").status_code == 204
    return tokens


def _admin_endpoint(api, user, tokens, other):
    admin = login(api, _admin().email)
    path = f"/auth/users/{user.pk}/revoke-sessions/"
    assert api.post(path, **bearer(admin)).status_code == 204
    return tokens


def _report(api, user, tokens, other):
    session = Session.objects.get(pk=tokens["session"]["id"])
    body = {"token": report_token(session)}
    assert api.post("/auth/sessions/report/", body, format="json").status_code == 204
    return tokens


def _command(api, user, tokens, other):
    call_command("secureauth_revoke", user.email, stdout=open("/dev/null", "w"))
    return tokens


def _admin_action(api, user, tokens, other):
    from django.contrib.admin.sites import site

    from secureauth.admin.sessions import SessionAdmin

    request = _admin_request()
    SessionAdmin(Session, site).revoke_selected(
        request, Session.objects.filter(pk=tokens["session"]["id"])
    )
    return tokens


def _admin():
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.filter(email="root@example.com").first()
    if admin is None:
        admin = get_user_model().objects.create_user(
            username="root@example.com", email="root@example.com", password=PASSWORD
        )
        VerifiedEmail.objects.create(user=admin, email=admin.email)
        admin.groups.add(Group.objects.get_or_create(name="admin")[0])
    return admin


def _admin_request():
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.test import RequestFactory

    request = RequestFactory().post("/admin/")
    admin = _admin()
    admin.is_staff = admin.is_superuser = True
    admin.save()
    request.user = admin
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


@pytest.mark.parametrize(
    "end_session",
    [
        _logout,
        _logout_all,
        _delete_session,
        _reuse_detected,
        _password_change,
        _password_reset,
        _admin_endpoint,
        _report,
        _command,
        _admin_action,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_every_revocation_is_seen_by_the_next_cached_request(api, user, end_session):
    tokens = login(api, user.email)
    other = login(api, user.email)
    warm(api, tokens)
    ended = end_session(api, user, tokens, other)
    assert_revoked(api, ended)


def test_a_deactivated_user_is_refused_at_once(api, user):
    tokens = login(api, user.email)
    warm(api, tokens)
    user.is_active = False
    user.save()
    response = me(api, tokens)
    assert (response.status_code, response.json()["code"]) == (401, "token_invalid")


def test_a_deleted_user_is_refused_at_once(api, user):
    tokens = login(api, user.email)
    warm(api, tokens)
    user.delete()
    assert me(api, tokens).status_code == 401


@pytest.mark.parametrize("side", ["user", "group"])
def test_a_role_change_is_seen_at_once(api, user, side):
    tokens = login(api, user.email)
    warm(api, tokens)
    group = Group.objects.get_or_create(name="auditor")[0]
    if side == "user":
        user.groups.add(group)
    else:
        group.user_set.add(user)
    assert me(api, tokens).json()["roles"] == ["auditor"]
    group.name = "reviewer"
    group.save()
    assert me(api, tokens).json()["roles"] == ["reviewer"]
    if side == "user":
        user.groups.clear()
    else:
        group.user_set.clear()
    assert me(api, tokens).json()["roles"] == []


def test_a_deleted_group_is_seen_at_once(api, user):
    group = Group.objects.create(name="auditor")
    user.groups.add(group)
    tokens = login(api, user.email)
    warm(api, tokens)
    group.delete()
    assert me(api, tokens).json()["roles"] == []


def test_factor_and_address_changes_are_seen_at_once(api, user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    tokens = login(api, user.email)
    warm(api, tokens)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    assert me(api, tokens).json()["mfa_enabled"] is True
    device.delete()
    assert me(api, tokens).json()["mfa_enabled"] is False
    VerifiedEmail.objects.filter(user=user).delete()
    assert me(api, tokens).json()["email_verified"] is False


def test_totp_turned_on_and_off_through_the_api_is_seen_at_once(signed_in, user):
    from tests.test_mfa import enable_totp

    api, tokens = signed_in
    warm(api, tokens)
    authenticator, _codes = enable_totp(api)
    assert me(api, tokens).json()["mfa_enabled"] is True
    from secureauth.models.totp import SealedTOTPDevice

    SealedTOTPDevice.objects.filter(user=user).get().delete()
    assert me(api, tokens).json()["mfa_enabled"] is False


def test_a_profile_change_is_seen_at_once(api, user):
    tokens = login(api, user.email)
    warm(api, tokens)
    user.email = "alice.new@example.com"
    user.save()
    assert me(api, tokens).json()["email"] == "alice.new@example.com"


class _Broken(Exception):
    pass


class BrokenCache:
    """A cache whose server is gone: every call raises, as django-redis does."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise _Broken("connection refused")

        return fail


def test_a_cache_that_is_down_falls_back_to_the_database(api, user, monkeypatch):
    tokens = login(api, user.email)
    other = login(api, user.email)
    monkeypatch.setattr(session_cache, "_cache", lambda: BrokenCache())
    assert me(api, tokens).status_code == 200  # from the database
    assert me(api, other).status_code == 200  # the cache is left alone meanwhile (breaker)
    # Revoking commits, then cannot publish: the caller learns it (503), the session is
    # revoked in the database, and every process reading the database refuses it.
    response = api.post("/auth/logout/", **bearer(tokens))
    assert (response.status_code, response.json()["code"]) == (503, "service_unavailable")
    assert response["Retry-After"]
    assert Session.objects.get(pk=tokens["session"]["id"]).revoked_at is not None
    assert_revoked(api, tokens)
    assert me(api, other).status_code == 200


def test_a_fill_that_raced_a_revocation_is_never_used(transactional_db, api, make_user):
    """A request read the session (active) from the database, then the session was
    revoked and published before that request wrote its entry: the entry carries the
    generation read before the database, so the next request does not trust it."""
    user = make_user("racer@example.com", verified=True)
    tokens = login(api, user.email)
    read, resume = threading.Event(), threading.Event()
    results = {}

    def held() -> None:
        read.set()
        assert resume.wait(20)

    def stale_request() -> None:
        try:
            results["stale"] = me(api.__class__(), tokens).status_code
        finally:
            from django.db import connections

            connections.close_all()

    with races.hold("auth.session_read", held):
        thread = threading.Thread(target=stale_request)
        thread.start()
        assert read.wait(20)
    # The reader is past its database read and before its fill: revoke now.
    assert api.post("/auth/logout/", **bearer(login(api, user.email))).status_code == 204
    assert api.post("/auth/logout-all/", **bearer(login(api, user.email))).status_code == 204
    resume.set()
    thread.join(20)
    assert results["stale"] == 200  # it read before the revocation
    assert_revoked(api, tokens)
