"""Unlinking under concurrency: two identities removed at once never leave a user
with no way to sign in."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient
from social_django.models import UserSocialAuth

from tests.conftest import bearer, postgres_only
from tests.test_social import URL, _provider_server, authorize, oidc  # noqa: F401


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_unlinks_keep_one_way_to_sign_in(oidc):  # noqa: F811
    oidc.add_user("first", email="pat@example.com")
    oidc.add_user("second", email="pat.alt@example.com")
    api = APIClient()
    tokens = api.post(URL, authorize(oidc, "first"), format="json").json()
    linked = api.post(URL + "connect/", authorize(oidc, "second"), format="json", **bearer(tokens))
    assert linked.status_code == 201
    ids = [c["id"] for c in api.get("/auth/social/connections/", **bearer(tokens)).json()]
    assert len(ids) == 2

    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def unlink(connection_id: str) -> None:
        try:
            barrier.wait()
            response = APIClient().delete(
                f"/auth/social/connections/{connection_id}/", **bearer(tokens)
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=unlink, args=(cid,)) for cid in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [204, 409]
    assert UserSocialAuth.objects.count() == 1
