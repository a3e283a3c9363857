"""PostgreSQL stopped under the running service, then started again.

Every endpoint answers the outage with the contract's JSON 503 and ``Retry-After``,
SecureAuth's views and the example project's own alike (health, admin, API docs, a
host view). Once PostgreSQL is back the same processes serve again without a
restart, every session and token from before still works, and the attempts refused
during the outage counted for nothing: nobody is locked out.
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import PASSWORD

from .conftest import USERS, Answer, Client, service, unavailable

pytestmark = [pytest.mark.faults, pytest.mark.servers]

#: A cookie that makes Django load a session (a query) on views that read request.user.
SESSION_COOKIE = {"sessionid": "a" * 32}


def outage_answers(alice: Client, bob: Client, refresh_token: str) -> dict[str, Answer]:
    anonymous = Client(alice.base, cookies=SESSION_COOKIE)
    return {
        "login": bob.login(USERS[6]),
        "refresh": alice.refresh(refresh_token),
        "me": alice.request("GET", "/auth/me/"),
        "sessions": alice.request("GET", "/auth/sessions/"),
        "logout-all": alice.request("POST", "/auth/logout-all/", {}),
        "host view": alice.request("GET", "/api/example/"),
        "health": alice.request("GET", "/health/"),
        "admin": anonymous.request("GET", "/admin/"),
        "admin login": anonymous.request("GET", "/admin/login/"),
        "api docs": anonymous.request("GET", "/api/docs/"),
    }


def test_postgres_stopped_is_a_json_503_everywhere_and_recovers_without_restart(database, redis):
    with service(database, redis, workers=2) as base:
        alice, bob = Client(base), Client(base)
        signed_in = alice.login(USERS[5])
        assert signed_in.status == 200, signed_in.body
        refresh_token = signed_in.body["refresh_token"]
        database.stop()

        answers = outage_answers(alice, bob, refresh_token)
        wrong = [bob.login(USERS[7], "wrong password") for _ in range(8)]
        refused = {name: a for name, a in answers.items() if not unavailable(a)}
        assert not refused, refused
        assert all(unavailable(answer) for answer in wrong), wrong
        assert "database" in answers["health"].body["detail"]
        for answer in [*answers.values(), *wrong]:
            assert str(database.port) not in str(answer.body)  # no driver message leaks
        # Paths that need no database are unaffected.
        assert alice.request("GET", "/nowhere/").code == "not_found"
        assert alice.request("GET", "/auth/.well-known/jwks.json").status == 200

        database.start()
        # The same processes serve again: the first requests reconnect.
        deadline = time.monotonic() + 10
        while alice.request("GET", "/auth/me/").status != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        me = alice.request("GET", "/auth/me/")
        assert (me.status, me.body["email"]) == (200, USERS[5])
        # Nothing lost: the refresh refused during the outage rotated nothing.
        rotated = alice.refresh(refresh_token)
        assert rotated.status == 200, rotated.body
        sessions = Client(base, rotated.body["access_token"]).request("GET", "/auth/sessions/")
        assert sessions.status == 200 and len(sessions.body) == 1
        # Nobody locked out: eight wrong passwords during the outage counted nothing.
        assert bob.login(USERS[7], PASSWORD).status == 200
        assert bob.login(USERS[6]).status == 200
        for _ in range(4):  # both workers, whichever answers
            assert alice.request("GET", "/health/").status == 200
