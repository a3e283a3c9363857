"""Two real server processes sharing one Redis: a session revoked or changed through
one process (or by a command, the admin, a deactivation in a third) is refused or
changed through the other on the very next request, although that other process
answers its requests from the shared session cache. Also with Redis stopped mid-test.

The Redis server is this module's own (a free port), so it can be stopped; the
database is the test run's (SQLite or PostgreSQL).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from contextlib import ExitStack

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.test import override_settings
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from secureauth import session_cache
from secureauth.models import Session
from secureauth.services.notifications import report_token
from secureauth.services.passwords import password_reset_token
from tests.conftest import PASSWORD
from tests.servers import free_port, running_server

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]

NEW_PASSWORD = "a-brand-new-passphrase-42"


class RedisServer:
    """A redis-server of this module's own, which a test may stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            probe = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
            )
            if probe.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture(scope="module")
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def servers(django_db_setup, django_db_blocker, redis_server):
    """Two server processes and this process, all on one Redis under one key prefix."""
    prefix = f"sa-test-cache-{uuid.uuid4().hex}"
    env = {"REDIS_URL": redis_server.url, "TEST_CACHE_KEY_PREFIX": prefix}
    shared = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": redis_server.url,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
    with ExitStack() as stack, django_db_blocker.unblock():
        first = stack.enter_context(running_server(env))
        second = stack.enter_context(running_server(env))
        stack.enter_context(override_settings(CACHES=shared))
        yield first, second


def call(base: str, method: str, path: str, body=None, token: str | None = None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else {}


def sign_in(base: str, email: str, password: str = PASSWORD) -> dict:
    status, body = call(base, "POST", "/auth/login/", {"email": email, "password": password})
    assert status == 200, body
    return body


def me(base: str, tokens: dict):
    return call(base, "GET", "/auth/me/", token=tokens["access_token"])


def warm(base: str, tokens: dict) -> None:
    """The session is served from the shared cache by ``base`` from now on."""
    assert me(base, tokens)[0] == 200
    assert me(base, tokens)[0] == 200
    entry = caches["default"].get(session_cache.session_key(tokens["session"]["id"]))
    assert entry is not None, "the second process did not cache the session"


def assert_refused(base: str, tokens: dict, code: str = "session_revoked") -> None:
    status, body = me(base, tokens)
    assert (status, body.get("code")) == (401, code)


# Each revocation path, taken through the first process (or this one).


def _logout(first, user, tokens, other):
    assert call(first, "POST", "/auth/logout/", token=tokens["access_token"])[0] == 204


def _logout_all(first, user, tokens, other):
    assert call(first, "POST", "/auth/logout-all/", token=other["access_token"])[0] == 204


def _delete_session(first, user, tokens, other):
    path = f"/auth/sessions/{tokens['session']['id']}/"
    assert call(first, "DELETE", path, token=other["access_token"])[0] == 204


def _reuse_detected(first, user, tokens, other):
    status, child = call(
        first, "POST", "/auth/refresh/", {"refresh_token": tokens["refresh_token"]}
    )
    assert status == 200
    status, _ = call(first, "POST", "/auth/refresh/", {"refresh_token": child["refresh_token"]})
    assert status == 200
    status, body = call(first, "POST", "/auth/refresh/", {"refresh_token": tokens["refresh_token"]})
    assert (status, body["code"]) == (401, "token_reused")


def _password_change(first, user, tokens, other):
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert call(first, "POST", "/auth/password/change/", body, other["access_token"])[0] == 204


def _password_reset(first, user, tokens, other):
    user.refresh_from_db()
    body = {
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": password_reset_token.make_token(user),
        "new_password": NEW_PASSWORD,
    }
    assert call(first, "POST", "/auth/password/reset/confirm/", body)[0] == 204


def _admin_endpoint(first, user, tokens, other, make_user):
    admin = make_user("root@example.com", roles=["admin"], verified=True)
    admin_tokens = sign_in(first, admin.email)
    path = f"/auth/users/{user.pk}/revoke-sessions/"
    assert call(first, "POST", path, token=admin_tokens["access_token"])[0] == 204


def _report(first, user, tokens, other):
    token = report_token(Session.objects.get(pk=tokens["session"]["id"]))
    assert call(first, "POST", "/auth/sessions/report/", {"token": token})[0] == 204


def _command(first, user, tokens, other):
    with open("/dev/null", "w") as devnull:
        call_command("secureauth_revoke", user.email, stdout=devnull)


PATHS = [
    _logout,
    _logout_all,
    _delete_session,
    _reuse_detected,
    _password_change,
    _password_reset,
    _admin_endpoint,
    _report,
    _command,
]


@pytest.mark.parametrize("end_session", PATHS, ids=lambda f: f.__name__.strip("_"))
def test_a_session_ended_through_one_process_is_refused_by_the_other(
    transactional_db, servers, make_user, end_session
):
    first, second = servers
    user = make_user("alice@example.com", verified=True)
    tokens = sign_in(first, user.email)
    other = sign_in(first, user.email)
    warm(second, tokens)
    if end_session is _admin_endpoint:
        end_session(first, user, tokens, other, make_user)
    else:
        end_session(first, user, tokens, other)
    assert_refused(second, tokens)


def test_roles_and_deactivation_are_seen_by_the_other_process(transactional_db, servers, make_user):
    first, second = servers
    admin = make_user("root@example.com", roles=["admin"], verified=True)
    user = make_user("alice@example.com", verified=True)
    tokens = sign_in(first, user.email)
    warm(second, tokens)
    admin_tokens = sign_in(first, admin.email)
    path = f"/auth/users/{user.pk}/roles/"
    status, _ = call(first, "POST", path, {"roles": ["auditor"]}, admin_tokens["access_token"])
    assert status == 200
    assert me(second, tokens)[1]["roles"] == ["auditor"]
    user.refresh_from_db()
    user.is_active = False
    user.save()  # the admin's change form, a host's code: a third process
    assert_refused(second, tokens, code="token_invalid")


def test_with_redis_stopped_requests_use_the_database_and_revocation_still_holds(
    transactional_db, servers, redis_server, make_user
):
    first, second = servers
    user = make_user("alice@example.com", verified=True)
    tokens = sign_in(first, user.email)
    other = sign_in(first, user.email)
    warm(second, tokens)
    redis_server.stop()
    try:
        started = time.monotonic()
        assert me(second, tokens)[0] == 200  # from the database, not refused
        assert time.monotonic() - started < 5
        # The revocation commits; publishing it fails, and the caller is told (503).
        status, body = call(first, "POST", "/auth/logout/", token=tokens["access_token"])
        assert (status, body["code"]) == (503, "service_unavailable")
        assert_refused(second, tokens)
        assert me(second, other)[0] == 200
    finally:
        redis_server.start()
    # Redis is back (empty). Each process leaves it alone for CACHE_DOWN_SECONDS after
    # its last failure (cache_guard), then caches the other session again.
    deadline = time.monotonic() + 20
    key = session_cache.session_key(other["session"]["id"])
    while caches["default"].get(key) is None:
        assert time.monotonic() < deadline, "the session was not cached again"
        assert me(second, other)[0] == 200
        time.sleep(0.5)
    assert me(second, other)[0] == 200
    assert_refused(second, tokens)
