"""The Python DPoP client of docs/dpop.md, run as printed there against live servers:
a gunicorn process (as deployed), and the in-process live server with nonces on."""

from __future__ import annotations

import re
import types

import jwt
import pytest

from secureauth.models import Session
from tests.conftest import PASSWORD, secureauth_settings
from tests.servers import ROOT, running_server

EXAMPLE = re.compile(r"<!-- example: (\w+) -->\s*```python\n(.*?)```", re.S)


def docs_module() -> types.ModuleType:
    """The page's example blocks, executed in order into one module."""
    examples = dict(EXAMPLE.findall((ROOT / "docs" / "dpop.md").read_text()))
    assert set(examples) == {"client", "usage"}
    module = types.ModuleType("tests.docs_dpop_examples")
    for code in examples.values():
        exec(compile(code, "docs/dpop.md", "exec"), module.__dict__)  # noqa: S102
    return module


@pytest.mark.servers
def test_the_client_signs_in_calls_me_and_refreshes_against_a_server(transactional_db, user):
    docs = docs_module()
    with running_server() as base:
        me = docs.sign_in_and_refresh(base, user.email, PASSWORD)
    assert me["email"] == user.email
    session = Session.objects.get()
    assert session.dpop_jkt and session.revoked_at is None


def test_the_client_follows_the_server_nonce(live_server, user):
    docs = docs_module()
    with secureauth_settings(DPOP_NONCE=True):
        client = docs.DPoPClient(live_server.url)
        tokens = client.login(user.email, PASSWORD)
        assert client.nonce is not None
        claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        assert claims["cnf"]["jkt"] == Session.objects.get().dpop_jkt
        assert client.me()["email"] == user.email
        client.refresh()
        assert client.me()["email"] == user.email
