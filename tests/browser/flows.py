"""What a person does on the account pages, step by step (shared by the browser tests)."""

from __future__ import annotations

import re
import time

import pyotp
from django.core import mail

from tests.conftest import PASSWORD

#: the page module that holds the pages' one client; a test imports it to call the API
#: as the page does (the same module instance, so the same in-memory token)
SESSION_MODULE = "/static/secureauth/account/session.js"


def sign_in(page, email: str, password: str = PASSWORD, *, lands_on: str = "security") -> None:
    page.goto("/account/")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    if lands_on:
        page.wait_for_url(f"**/account/{lands_on}")
        wait_until_loaded(page)


def wait_until_loaded(page) -> None:
    """A signed-in page has restored its session and shown its content."""
    page.locator("#content").wait_for(state="visible")


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out", exact=True).first.click()
    page.wait_for_url(re.compile(r"/account/\?.*reason=signed-out"))
    page.get_by_text("You are signed out.").wait_for()


def totp_code(secret: str, *, steps_ahead: int = 0) -> str:
    """The authenticator app's code (``steps_ahead`` 30-second steps later: a code is
    accepted once, and the server takes the next step's code too)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def access_token_of(page) -> str | None:
    """Whether the page's client holds a token (its value stays in the module)."""
    return page.evaluate(
        f"async () => (await import('{SESSION_MODULE}')).client.signedIn ? 'yes' : null"
    )


def assert_no_readable_token(page) -> None:
    """No access or refresh token where a script (or a later visitor) could read it."""
    found = page.evaluate(
        """() => ({
            local: Object.keys(localStorage).map((k) => k + '=' + localStorage.getItem(k)),
            session: Object.keys(sessionStorage).map((k) => k + '=' + sessionStorage.getItem(k)),
            cookie: document.cookie,
        })"""
    )
    assert found["local"] == [] and found["session"] == [], found
    assert "secureauth" not in found["cookie"] and "eyJ" not in found["cookie"], found


def last_link(path: str) -> str:
    """The link to ``/account/<path>`` in the newest mail."""
    for message in reversed(mail.outbox):
        match = re.search(rf"https?://\S+/account/{re.escape(path)}\?\S+", message.body)
        if match:
            return match.group(0)
    raise AssertionError(f"no mail holds a link to {path}: {[m.subject for m in mail.outbox]}")


def add_virtual_authenticator(page) -> str:
    """A platform authenticator with user verification, through the DevTools protocol."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    answer = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    page._secureauth_cdp = cdp  # kept alive with the page
    return answer["authenticatorId"]
