"""The rate-limit cache's breaker (secureauth.cache_guard): after one failed call a
process leaves the cache alone for CACHE_DOWN_SECONDS, answering as if it were down
(503 with Retry-After, or through when failing open), then tries it again.
The real thing, a frozen Redis under gunicorn: tests/faults/test_redis_faults.py."""

from __future__ import annotations

import time
from contextlib import contextmanager
from unittest import mock

from django.core.cache import caches

from tests.conftest import PASSWORD, secureauth_settings


def sign_in(api, user, password=PASSWORD):
    return api.post("/auth/login/", {"email": user.email, "password": password}, format="json")


@contextmanager
def broken_cache():
    """Every read of the cache fails, as with Redis unreachable; counts the calls."""
    backend = type(caches["default"])  # local memory, or Redis on the PostgreSQL pass
    reads = mock.Mock(side_effect=ConnectionError("refused"))
    with (
        mock.patch.object(backend, "get", reads),
        mock.patch.object(backend, "get_many", reads),
    ):
        yield reads


def test_after_a_failure_the_cache_is_left_alone_and_sign_ins_get_503_at_once(api, user):
    with secureauth_settings(CACHE_DOWN_SECONDS=30), broken_cache() as get:
        first = sign_in(api, user)
        calls = get.call_count
        then = [sign_in(api, user) for _ in range(3)]
    assert calls >= 1
    assert get.call_count == calls  # not called again while known to be down
    for response in [first, *then]:
        assert response.status_code == 503
        assert response.json()["code"] == "service_unavailable"
        assert 1 <= int(response["Retry-After"]) <= 30
    assert int(then[-1]["Retry-After"]) <= int(first["Retry-After"])


def test_when_the_time_is_up_the_cache_is_tried_again(api, user):
    with secureauth_settings(CACHE_DOWN_SECONDS=1):
        with broken_cache():
            assert sign_in(api, user).status_code == 503
        assert sign_in(api, user).status_code == 503  # the cache works, but is not asked yet
        time.sleep(1.1)
        assert sign_in(api, user).status_code == 200


def test_failing_open_a_known_outage_lets_sign_ins_through_without_waiting(api, user):
    with secureauth_settings(CACHE_DOWN_SECONDS=30, RATE_LIMIT_FAIL_OPEN=True):
        with broken_cache() as get:
            assert sign_in(api, user).status_code == 200
            calls = get.call_count
            assert sign_in(api, user).status_code == 200
            assert sign_in(api, user, "wrong").status_code == 401
        assert get.call_count == calls


def test_a_refusal_is_not_an_outage(api, user):
    """The limiter's own answers (a lock: 429) never trip the breaker."""
    for _ in range(5):
        assert sign_in(api, user, "wrong").status_code == 401
    assert sign_in(api, user).status_code == 429
    from secureauth import cache_guard

    assert not cache_guard.is_down("default")
