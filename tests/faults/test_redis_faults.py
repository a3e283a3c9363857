"""Redis stopped or hung under the running service.

The login limiter fails closed by default: without its counters a sign-in is refused
with a JSON 503, fast, and nothing is counted. Requests that only need a valid access
token go on working. A hung Redis costs a request at most one bounded wait (the
socket timeout), and the requests after it none while the cache is known to be down.
"""

from __future__ import annotations

import time

import pytest

from .conftest import USERS, Client, service, unavailable

pytestmark = [pytest.mark.faults, pytest.mark.servers]

#: The service's socket timeout to Redis, long enough to tell from a loaded machine's
#: slowness, and how long a process then leaves the cache alone.
HUNG = {"REDIS_SOCKET_TIMEOUT": "3", "SECUREAUTH_CACHE_DOWN_SECONDS": "10"}
#: One socket timeout plus slack for a loaded machine.
ONE_BOUNDED_WAIT = 6.0
#: Less than one socket timeout: a request that did not wait on the cache.
NO_WAIT = 2.5


def wait_until(check, *, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_redis_stopped_logins_fail_closed_and_signed_in_users_carry_on(database, redis):
    with service(database, redis) as base:
        alice, bob = Client(base), Client(base)
        signed_in = alice.login(USERS[0])
        assert signed_in.status == 200, signed_in.body
        redis.stop()

        for _ in range(8):  # past the allowance of five failures, had they counted
            answer = bob.login(USERS[1], "wrong password")
            assert unavailable(answer), answer
            assert answer.seconds < ONE_BOUNDED_WAIT
        assert unavailable(bob.login(USERS[1]))
        me = alice.request("GET", "/auth/me/")
        assert (me.status, me.body["email"]) == (200, USERS[0])
        sessions = alice.request("GET", "/auth/sessions/")
        assert sessions.status == 200 and len(sessions.body) == 1, sessions.body
        # Refresh is rate limited too: it fails closed, and the token stays good.
        assert unavailable(alice.refresh(signed_in.body["refresh_token"]))

        redis.start()
        # Nobody is locked out: none of the refused attempts counted.
        assert wait_until(lambda: bob.login(USERS[1]).status == 200)
        rotated = alice.refresh(signed_in.body["refresh_token"])
        assert rotated.status == 200, rotated.body


def test_redis_hung_requests_answer_within_a_bounded_time(database, redis):
    with service(database, redis, **HUNG) as base:
        alice, bob = Client(base), Client(base)
        assert alice.login(USERS[2]).status == 200
        redis.hang()
        try:
            answers = [bob.login(USERS[3]) for _ in range(5)]
            assert all(unavailable(answer) for answer in answers), answers
            assert answers[0].seconds < ONE_BOUNDED_WAIT, [a.seconds for a in answers]
            # The cache is known to be down: the next attempts do not wait on it again.
            assert all(answer.seconds < NO_WAIT for answer in answers[1:]), [
                a.seconds for a in answers
            ]
            for _ in range(3):
                me = alice.request("GET", "/auth/me/")
                assert me.status == 200 and me.seconds < ONE_BOUNDED_WAIT, me
            health = alice.request("GET", "/health/")
            assert unavailable(health) and health.seconds < ONE_BOUNDED_WAIT, health
        finally:
            redis.resume()
        assert wait_until(lambda: bob.login(USERS[3]).status == 200, timeout=40)


def test_redis_hung_with_fail_open_logins_go_on_within_a_bounded_time(database, redis):
    with service(database, redis, SECUREAUTH_RATE_LIMIT_FAIL_OPEN="1", **HUNG) as base:
        client = Client(base)
        assert client.login(USERS[4]).status == 200
        redis.hang()
        try:
            answers = [client.login(USERS[4]) for _ in range(4)]
            assert [answer.status for answer in answers] == [200] * 4, answers
            assert answers[0].seconds < ONE_BOUNDED_WAIT, [a.seconds for a in answers]
            assert all(answer.seconds < NO_WAIT for answer in answers[1:]), [
                a.seconds for a in answers
            ]
        finally:
            redis.resume()
