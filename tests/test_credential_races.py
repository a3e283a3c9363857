"""Sign-ins racing credential changes, and bursts of refresh-token replays.

Each race is forced: the racing request is held at a named checkpoint
(``secureauth.races``) between its read and its write while the other request runs
to the end, so the test fails whenever the ordering it guards against is possible.
Real threads, each with its own database connection (PostgreSQL in CI, SQLite too).
"""

from __future__ import annotations

import threading

import pytest
from rest_framework.test import APIClient

from secureauth import races
from secureauth.models import AuditEvent, Session
from tests.conftest import PASSWORD, bearer, login, refresh, run_in_threads, secureauth_settings
from tests.test_mfa import enable_totp, verify

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "an entirely new passphrase 7"


class Held:
    """A checkpoint hook that stops the first thread reaching it until ``release()``."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self._release = threading.Event()

    def __call__(self) -> None:
        if self.arrived.is_set():
            return
        self.arrived.set()
        assert self._release.wait(timeout=30), "never released"

    def release(self) -> None:
        self._release.set()


def race(checkpoint: str, racing, meanwhile):
    """Run ``racing`` in a thread held at ``checkpoint``; run ``meanwhile`` to the end;
    release the thread. Returns (racing's result, meanwhile's result)."""
    held = Held()
    result: dict = {}

    def run() -> None:
        result["value"] = racing()

    with races.hold(checkpoint, held):
        thread = threading.Thread(target=lambda: run_in_threads([run]))
        thread.start()
        assert held.arrived.wait(timeout=30), f"{checkpoint} never reached"
        try:
            other = meanwhile()
        finally:
            held.release()
        thread.join(timeout=30)
    return result["value"], other


def active_sessions(user) -> list[Session]:
    return list(Session.objects.active_for(user))


def password_login(user):
    """POST login/ with the right password, from a fresh client."""
    return APIClient().post(
        "/auth/login/", {"email": user.email, "password": PASSWORD}, format="json"
    )


def change_password(client: APIClient):
    return client.post(
        "/auth/password/change/",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )


def test_a_login_that_passed_its_password_check_before_a_change_commits_no_session(user):
    owner = APIClient()
    owner_tokens = login(owner, user.email)
    owner.credentials(**bearer(owner_tokens))

    attacker, changed = race(
        "login.password_checked", lambda: password_login(user), lambda: change_password(owner)
    )
    assert changed.status_code == 204
    assert attacker.status_code == 401, attacker.content
    assert attacker.json()["code"] == "invalid_credentials"
    # Only the owner's own session is left.
    assert [str(s.pk) for s in active_sessions(user)] == [owner_tokens["session"]["id"]]
    assert AuditEvent.objects.filter(event="login_failed", detail__reason="credentials_changed")


def test_a_password_only_login_racing_totp_enablement_commits_no_session(user):
    owner = APIClient()
    owner.credentials(**bearer(login(owner, user.email)))

    attacker, _ = race(
        "login.password_checked", lambda: password_login(user), lambda: enable_totp(owner)
    )
    assert attacker.status_code == 401, attacker.content
    assert len(active_sessions(user)) == 1
    assert all("otp" not in s.amr or s.amr == ["pwd"] for s in active_sessions(user))


def test_a_credential_change_spends_pending_mfa_challenges(user):
    owner = APIClient()
    owner.credentials(**bearer(login(owner, user.email)))
    phone, _ = enable_totp(owner)
    owner.credentials(**bearer(login_with_totp(user, phone)))
    mfa_token = password_login(user).json()["mfa_token"]
    assert change_password(owner).status_code == 204
    response = verify(APIClient(), mfa_token, code=phone.code())
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_an_mfa_step_racing_a_password_change_commits_no_session(user):
    owner = APIClient()
    owner.credentials(**bearer(login(owner, user.email)))
    phone, _ = enable_totp(owner)
    owner.credentials(**bearer(login_with_totp(user, phone)))
    mfa_token = password_login(user).json()["mfa_token"]
    code = phone.code()
    # Held after the code was accepted and the challenge spent, before the session.
    racing, changed = race(
        "mfa.verified",
        lambda: verify(APIClient(), mfa_token, code=code),
        lambda: change_password(owner),
    )
    assert changed.status_code == 204
    assert racing.status_code == 401, racing.content
    assert len(active_sessions(user)) == 1


def login_with_totp(user, phone) -> dict:
    pending = password_login(user)
    response = verify(APIClient(), pending.json()["mfa_token"], code=phone.code())
    assert response.status_code == 200, response.content
    return response.json()


def test_a_burst_of_replays_writes_one_reuse_event(user):
    """Ten replays of a retired token at once: every one refused, the session revoked,
    and one ``refresh_token_reused`` event (not one per replay)."""
    with secureauth_settings(REFRESH_REUSE_GRACE_SECONDS=0):
        tokens = login(APIClient(), user.email)
        assert refresh(APIClient(), tokens["refresh_token"]).status_code == 200
        gate = threading.Barrier(10, timeout=30)
        with races.hold("refresh.reuse_detected", lambda: gate.wait()):
            responses = run_in_threads(
                [lambda: refresh(APIClient(), tokens["refresh_token"]) for _ in range(10)]
            )
    assert [r.status_code for r in responses] == [401] * 10
    assert {r.json()["code"] for r in responses} == {"token_reused"}
    assert AuditEvent.objects.filter(event="refresh_token_reused").count() == 1
    assert Session.objects.get(pk=tokens["session"]["id"]).revoked_reason == "reuse"
