"""A DPoP proof is accepted once across server processes sharing the cache (Redis)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid

import pytest

from tests.conftest import PASSWORD
from tests.dpop_keys import DPoPKey
from tests.servers import running_server

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (shared cache)"),
]

#: Both servers are called by one public name, as behind a load balancer: one htu.
HOST = "auth.test"
PUBLIC = f"http://{HOST}"


def call(base: str, method: str, path: str, body: dict | None = None, **headers: str):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json", "Host": HOST, **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_proof_is_accepted_once_in_every_process(transactional_db, make_user):
    user = make_user("dpop-shared@example.com", verified=True)
    key = DPoPKey("ES256")
    env = {
        "REDIS_URL": os.environ["REDIS_URL"],
        "TEST_CACHE_KEY_PREFIX": f"sa-test-dpop-{uuid.uuid4().hex}",
    }
    credentials = {"email": user.email, "password": PASSWORD}
    with running_server(env) as first, running_server(env) as second:
        login_proof = key.proof("POST", PUBLIC + "/auth/login/")
        status, tokens = call(first, "POST", "/auth/login/", credentials, DPoP=login_proof)
        assert status == 200, tokens
        assert tokens["token_type"] == "DPoP"
        status, body = call(second, "POST", "/auth/login/", credentials, DPoP=login_proof)
        assert (status, body["code"]) == (400, "invalid_dpop_proof")

        token = tokens["access_token"]
        auth = {"Authorization": f"DPoP {token}"}
        me_proof = key.proof("GET", PUBLIC + "/auth/me/", access_token=token)
        status, body = call(second, "GET", "/auth/me/", DPoP=me_proof, **auth)
        assert status == 200 and body["email"] == user.email
        status, body = call(first, "GET", "/auth/me/", DPoP=me_proof, **auth)
        assert (status, body["code"]) == (401, "invalid_dpop_proof")

        refresh_proof = key.proof("POST", PUBLIC + "/auth/refresh/")
        refresh_body = {"refresh_token": tokens["refresh_token"]}
        status, refreshed = call(first, "POST", "/auth/refresh/", refresh_body, DPoP=refresh_proof)
        assert status == 200 and refreshed["token_type"] == "DPoP"
        status, body = call(second, "POST", "/auth/refresh/", refresh_body, DPoP=refresh_proof)
        assert (status, body["code"]) == (400, "invalid_dpop_proof")
