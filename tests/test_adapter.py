"""The adapter: every worked example of docs/extending.md, run as printed there.

The examples are read from the page itself (the fenced block after each
``<!-- example: NAME -->`` marker) into one importable module, so the docs cannot
drift from what works.
"""

from __future__ import annotations

import re
import sys
import types

import jwt
from django.contrib.auth import get_user_model
from django.core import mail
from rest_framework.test import APIClient

from secureauth.adapter import DefaultAdapter, get_adapter
from tests.conftest import PASSWORD, bearer, login, refresh, secureauth_settings
from tests.servers import ROOT

MODULE = "tests.docs_extending_examples"
EXAMPLE = re.compile(r"<!-- example: (\w+) -->\s*```python\n(.*?)```", re.S)


def load_examples() -> dict[str, str]:
    text = (ROOT / "docs" / "extending.md").read_text()
    examples = dict(EXAMPLE.findall(text))
    module = types.ModuleType(MODULE)
    for code in examples.values():
        exec(compile(code, "docs/extending.md", "exec"), module.__dict__)  # noqa: S102
    sys.modules[MODULE] = module
    return examples


EXAMPLES = load_examples()


def adapter(name: str):
    """``SECUREAUTH["ADAPTER"]`` set to the docs' class ``name``."""
    return secureauth_settings(ADAPTER=f"{MODULE}.{name}")


def claims(tokens: dict) -> dict:
    return jwt.decode(tokens["access_token"], options={"verify_signature": False})


def sign_in(client: APIClient, email: str, **headers) -> dict:
    response = client.post(
        "/auth/login/", {"email": email, "password": PASSWORD}, format="json", **headers
    )
    assert response.status_code == 200, response.content
    return response.json()


def register(client: APIClient, email: str, **extra):
    return client.post(
        "/auth/register/", {"email": email, "password": PASSWORD}, format="json", **extra
    )


def test_the_page_has_an_example_for_every_hook():
    hooks = {
        name
        for name, value in vars(DefaultAdapter).items()
        if callable(value) and not name.startswith("_")
    }
    assert hooks == set(EXAMPLES)


def test_the_default_adapter_is_used_without_a_setting():
    assert type(get_adapter()) is DefaultAdapter


def test_the_adapter_is_loaded_once_and_again_after_a_settings_change():
    assert get_adapter() is get_adapter()
    with adapter("TenantClaimAdapter"):
        assert type(get_adapter()).__name__ == "TenantClaimAdapter"
    assert type(get_adapter()) is DefaultAdapter


def test_create_user(api, db):
    with adapter("NamedUsersAdapter"):
        assert register(api, "grace.hopper@example.com").status_code == 201
    assert get_user_model().objects.get(email="grace.hopper@example.com").first_name == (
        "grace.hopper"
    )


def test_username_for(db):
    with adapter("HandleAdapter"):
        name = get_adapter().username_for("ada@example.com")
    assert re.fullmatch(r"ada-[0-9a-f]{6}", name)


def test_find_user_by_email(api, user):
    user.is_active = False
    user.save()
    mail.outbox.clear()
    with adapter("ActiveOnlyAdapter"):
        reset = api.post("/auth/password/reset/", {"email": user.email}, format="json")
    assert reset.status_code == 202
    assert mail.outbox == []  # the inactive account is not found at all


def test_send_mail(api, db):
    from tests.docs_extending_examples import QUEUE

    QUEUE.clear()
    mail.outbox.clear()
    with adapter("QueuedMailAdapter"):
        assert register(api, "queued@example.com").status_code == 201
    assert mail.outbox == []
    assert [entry["to"] for entry in QUEUE] == [["queued@example.com"]]
    assert "verify-email" in QUEUE[0]["body"]


def test_access_token_claims(api, user):
    with adapter("TenantClaimAdapter"):
        tokens = login(api, user.email)
        refreshed = refresh(api, tokens["refresh_token"]).json()
    assert claims(tokens)["tenant"] == claims(refreshed)["tenant"] == "example.com"


def test_access_token_claims_cannot_replace_reserved_claims(api, user):
    class Overreaching(DefaultAdapter):
        def access_token_claims(self, user, session):
            return {"sub": "someone-else", "roles": ["admin"], "extra": 1}

    sys.modules[MODULE].Overreaching = Overreaching
    with adapter("Overreaching"):
        tokens = login(api, user.email)
    assert claims(tokens)["sub"] == str(user.pk)
    assert claims(tokens)["roles"] == [] and claims(tokens)["extra"] == 1


def test_parse_device(api, user):
    with adapter("AppDeviceAdapter"):
        tokens = sign_in(api, user.email, HTTP_USER_AGENT="AcmeApp/3.2 (iOS 18)")
    assert tokens["session"]["device"] == {
        "name": "Acme app on iOS",
        "browser": "Acme app",
        "os": "iOS",
        "type": "mobile",
    }


def test_client_ip(api, user):
    with adapter("CDNAdapter"):
        tokens = sign_in(api, user.email, HTTP_CF_CONNECTING_IP="203.0.113.77")
    assert tokens["session"]["ip"] == "203.0.113.77"


def test_serialize_user(api, user):
    user.first_name, user.last_name = "Alice", "Liddell"
    user.save()
    with adapter("NamedUserObjectAdapter"):
        tokens = login(api, user.email)
        me = APIClient().get("/auth/me/", **bearer(tokens)).json()
    assert tokens["user"]["name"] == me["name"] == "Alice Liddell"
    assert {"id", "email", "roles", "email_verified", "mfa_enabled", "date_joined"} <= set(me)
