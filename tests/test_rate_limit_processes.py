"""A login lock set through one server process is enforced by another (shared Redis)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid

import pytest

from tests.conftest import PASSWORD
from tests.servers import running_server

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (shared cache)"),
]


def post(base: str, path: str, body: dict) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_lock_set_through_one_process_is_enforced_by_another(transactional_db, make_user):
    user = make_user("shared@example.com")
    env = {
        "REDIS_URL": os.environ["REDIS_URL"],
        # Both servers count under one key prefix, as production processes do.
        "TEST_CACHE_KEY_PREFIX": f"sa-test-processes-{uuid.uuid4().hex}",
    }
    with running_server(env) as first, running_server(env) as second:
        for _ in range(5):
            status, _, body = post(first, "/auth/login/", {"email": user.email, "password": "x"})
            assert (status, body["code"]) == (401, "invalid_credentials")
        status, headers, body = post(
            second, "/auth/login/", {"email": user.email, "password": PASSWORD}
        )
        assert (status, body["code"]) == (429, "rate_limited")
        assert headers["Retry-After"] in ("29", "30")  # what is left of the 30 s lock
        # Refused attempts are not failures: the lock does not grow in either process.
        status, headers, _ = post(first, "/auth/login/", {"email": user.email, "password": "x"})
        assert status == 429 and int(headers["Retry-After"]) <= 30
