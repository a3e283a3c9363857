"""A refresh racing the purge of its own token or session: always a 401, never a 500.

On PostgreSQL with real threads: the refresh is held between finding its token and
using it (``refresh.found``) while the cleanup deletes the rows under it.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from secureauth.constants import RevokeReason
from secureauth.models import AuditEvent, RefreshToken, Session
from secureauth.races import hold
from secureauth.services.cleanup import cleanup
from tests.conftest import login, postgres_only, run_in_threads

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]

LONG_AGO = timedelta(days=40)


def refresh_while_purging(token: str) -> tuple[int, dict, object]:
    """Refresh with ``token``, the cleanup running (to completion) between the
    refresh's lookup and the rest of it."""
    arrived, purged = threading.Event(), threading.Event()

    def pause() -> None:
        arrived.set()
        assert purged.wait(30), "the cleanup did not finish"

    def refresh() -> tuple[int, dict]:
        response = APIClient().post("/auth/refresh/", {"refresh_token": token}, format="json")
        return response.status_code, response.json()

    def purge():
        assert arrived.wait(30), "the refresh never reached its lookup"
        try:
            return cleanup()
        finally:
            purged.set()

    with hold("refresh.found", pause):
        (status, body), report = run_in_threads([refresh, purge])
    return status, body, report


def test_refresh_of_a_session_expired_long_ago_purged_meanwhile(user):
    tokens = login(APIClient(), user.email)
    Session.objects.filter(pk=tokens["session"]["id"]).update(expires_at=timezone.now() - LONG_AGO)
    status, body, report = refresh_while_purging(tokens["refresh_token"])
    assert report.sessions == 1 and report.refresh_tokens == 1
    assert status == 401 and body["code"] == "token_expired", body
    assert not Session.objects.exists() and not RefreshToken.objects.exists()


def test_refresh_of_a_session_revoked_long_ago_purged_meanwhile(user):
    tokens = login(APIClient(), user.email)
    Session.objects.filter(pk=tokens["session"]["id"]).update(
        revoked_at=timezone.now() - LONG_AGO, revoked_reason=RevokeReason.LOGOUT
    )
    status, body, report = refresh_while_purging(tokens["refresh_token"])
    assert report.sessions == 1
    assert status == 401 and body["code"] == "session_revoked", body


def test_replay_of_a_rotated_token_purged_meanwhile(user):
    """The token is gone when reuse detection runs: the session is still revoked and
    the event audited (it names a token id that no longer exists)."""
    client = APIClient()
    first = login(client, user.email)
    second = client.post("/auth/refresh/", {"refresh_token": first["refresh_token"]}, format="json")
    assert second.status_code == 200
    RefreshToken.objects.filter(rotated_at__isnull=False).update(
        expires_at=timezone.now() - LONG_AGO, rotated_at=timezone.now() - LONG_AGO
    )
    status, body, report = refresh_while_purging(first["refresh_token"])
    assert report.refresh_tokens == 1 and report.sessions == 0
    assert status == 401 and body["code"] == "token_reused", body
    assert Session.objects.get().revoked_reason == RevokeReason.REUSE
    assert AuditEvent.objects.filter(event="refresh_token_reused").count() == 1
