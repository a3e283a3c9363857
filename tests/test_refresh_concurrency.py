"""Concurrent refreshes with one token, on PostgreSQL with real threads.

Each thread has its own database connection (Django connections are per
thread) and closes it when done; a barrier releases all requests at once.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connections
from rest_framework.test import APIClient

from secureauth.crypto import token_digest
from secureauth.models import RefreshToken, Session
from tests.conftest import login, postgres_only, secureauth_settings

THREADS = 20

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


def refresh_all_at_once(token: str) -> list[tuple[int, dict]]:
    """POST refresh/ with ``token`` from THREADS threads released together."""
    barrier = threading.Barrier(THREADS)
    results: list[tuple[int, dict]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            client = APIClient()
            barrier.wait(timeout=30)
            response = client.post("/auth/refresh/", {"refresh_token": token}, format="json")
            with lock:
                results.append((response.status_code, response.json()))
        except BaseException as exc:  # reported by the main thread
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(results) == THREADS
    return results


def test_without_grace_exactly_one_concurrent_refresh_wins(user):
    with secureauth_settings(REFRESH_REUSE_GRACE_SECONDS=0):
        tokens = login(APIClient(), user.email)
        results = refresh_all_at_once(tokens["refresh_token"])

    winners = [body for status, body in results if status == 200]
    losers = [body for status, body in results if status != 200]
    assert len(winners) == 1, results
    assert all(status in (200, 401) for status, _ in results)
    assert {body["code"] for body in losers} <= {"token_reused", "session_revoked"}

    parent = RefreshToken.objects.get(token_hash=token_digest(tokens["refresh_token"]))
    children = RefreshToken.objects.filter(parent=parent)
    assert children.count() == 1
    assert bytes(children.get().token_hash) == token_digest(winners[0]["refresh_token"])
    assert RefreshToken.objects.filter(rotated_at__isnull=True).count() <= 1
    # Reuse without a grace window is theft: the session ends.
    assert Session.objects.get().revoked_reason == "reuse"


def test_with_grace_every_concurrent_refresh_gets_the_same_child(user):
    with secureauth_settings(REFRESH_REUSE_GRACE_SECONDS=30):
        tokens = login(APIClient(), user.email)
        results = refresh_all_at_once(tokens["refresh_token"])

    assert [status for status, _ in results] == [200] * THREADS, results
    children = {body["refresh_token"] for _, body in results}
    assert len(children) == 1
    assert len({body["access_token"] for _, body in results}) == THREADS
    (child,) = children
    assert child != tokens["refresh_token"]

    parent = RefreshToken.objects.get(token_hash=token_digest(tokens["refresh_token"]))
    assert RefreshToken.objects.filter(parent=parent).count() == 1
    current = RefreshToken.objects.filter(rotated_at__isnull=True).get()
    assert bytes(current.token_hash) == token_digest(child)
    assert Session.objects.get().revoked_at is None
    assert (
        APIClient().post("/auth/refresh/", {"refresh_token": child}, format="json").status_code
        == 200
    )
