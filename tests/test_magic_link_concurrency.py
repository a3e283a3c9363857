"""One email sign-in link used by several requests at the same moment signs in once
(real threads on PostgreSQL, held together between reading the link and spending it)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from rest_framework.test import APIClient

from secureauth import races
from secureauth.models import AuditEvent, Session
from tests.conftest import postgres_only, run_in_threads
from tests.test_magic_link import confirm, new_token

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]

PARALLEL = 5


def outcome(response) -> tuple[int, str | None]:
    return response.status_code, response.json().get("code")


def test_parallel_confirms_of_one_link_sign_in_once(make_user):
    user = make_user("racer@example.com", verified=True)
    token = new_token(APIClient(), user.email)
    barrier = threading.Barrier(PARALLEL)

    # Every request has read the link (and found it pending) before any spends it.
    with races.hold("magic_link.read", lambda: barrier.wait(timeout=20)):
        results = run_in_threads(
            [lambda: outcome(confirm(APIClient(), token)) for _ in range(PARALLEL)]
        )

    assert Counter(results) == {(200, None): 1, (400, "token_invalid"): PARALLEL - 1}
    assert Session.objects.filter(user=user, amr=["email"]).count() == 1
    assert AuditEvent.objects.filter(event="magic_link_used").count() == 1
    assert AuditEvent.objects.filter(event="login_succeeded").count() == 1
    losers = AuditEvent.objects.filter(event="login_failed")
    assert [e.detail["reason"] for e in losers] == ["link_used"] * (PARALLEL - 1)
