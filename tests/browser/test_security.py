"""The security page's re-authentication prompt, password change, and the pages' headers
and Content-Security-Policy reporting, in Chromium."""

from __future__ import annotations

import time

import pytest
from django.core import mail

from tests.conftest import PASSWORD

from .flows import last_link, sign_in, totp_code, wait_until_loaded


def test_a_stale_sign_in_is_asked_to_confirm_before_setting_up_totp(pages, make_user, settings):
    user = make_user("stale@example.com", verified=True)
    page = pages.new_page()
    sign_in(page, user.email)
    # The sign-in's proof is older than REAUTH_MAX_AGE; the page's next access token
    # (the reload restores the session through refresh/) carries that auth_time.
    from datetime import timedelta

    from django.utils import timezone

    from secureauth.models import Session

    Session.objects.filter(user=user).update(auth_time=timezone.now() - timedelta(minutes=10))
    page.reload()

    page.get_by_role("button", name="Set up an authenticator app").click()
    dialog = page.get_by_role("dialog", name="Confirm it is you")
    dialog.wait_for()
    assert page.evaluate("document.activeElement.id") == "reauth-password"
    dialog.get_by_label("Password").fill("not the password")
    dialog.get_by_role("button", name="Confirm").click()
    page.locator("#reauth-messages .message.error").wait_for()  # the API's detail, in the dialog
    dialog.get_by_label("Password").fill(PASSWORD)
    dialog.get_by_role("button", name="Confirm").click()
    page.locator("#totp-enroll").wait_for()  # the setup went on after the proof
    assert dialog.is_hidden()

    # Turn it on, then off again (password and a code).
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code", exact=True).fill(totp_code(secret))
    page.get_by_role("button", name="Turn on").click()
    page.get_by_role("heading", name="Your recovery codes").wait_for()
    page.get_by_role("button", name="I have saved them").click()
    disable = page.locator("#disable-form")
    disable.get_by_label("Password").fill(PASSWORD)
    disable.get_by_label("Code from your app").fill(totp_code(secret, steps_ahead=1))
    disable.get_by_role("button", name="Turn off").click()
    page.get_by_text("The authenticator app is off.").wait_for()
    assert "Off:" in page.locator("#totp-status").inner_text()


def test_change_password_keeps_this_session(pages, make_user):
    user = make_user("changer@example.com", verified=True)
    page = pages.new_page()
    sign_in(page, user.email)
    form = page.locator("#password-form")
    form.get_by_label("Current password").fill("wrong")
    form.get_by_label("New password").fill("a brand new passphrase 5")
    form.get_by_role("button", name="Change password").click()
    page.get_by_role("alert").wait_for()
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_role("button", name="Change password").click()
    page.get_by_text("Your password is changed.").wait_for()
    page.reload()
    wait_until_loaded(page)
    assert page.locator("#signed-in-as").inner_text() == user.email


def test_pages_send_strict_headers_and_report_csp_violations(pages, csp_reports):
    page = pages.new_page()
    response = page.goto("/account/sign-up")
    headers = response.headers
    csp = headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "report-uri /account/csp-report/",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY"

    # An injected inline script is blocked, and its report reaches the server's log.
    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.injected = true";
            document.head.append(script);
        }"""
    )
    deadline = time.time() + 10
    while not csp_reports.reports and time.time() < deadline:
        page.wait_for_timeout(100)
    assert page.evaluate("window.injected") is None
    assert [report["effective-directive"] for report in csp_reports.reports] == ["script-src-elem"]
    # This test's own violation is not one of the pages': the fixture checks for none.
    csp_reports.reports.clear()
    pages.console_violations.clear()


def test_email_sign_in_link(pages, make_user, live_server):
    import urllib.error
    import urllib.request

    probe = urllib.request.Request(
        f"{live_server.url}/auth/magic-link/",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        urllib.request.urlopen(probe, timeout=5)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            pytest.skip("this build has no magic-link/ endpoints")
    user = make_user("linked@example.com", verified=True)
    page = pages.new_page()
    page.goto("/account/")
    page.get_by_label("Email me a sign-in link").fill(user.email)
    page.get_by_role("button", name="Send link").click()
    page.locator(".message.success").wait_for()
    assert mail.outbox[-1].to == [user.email]
    page.goto(last_link("magic-link"))
    assert "token=" not in page.url
    page.get_by_role("button", name="Continue signing in").click()
    page.wait_for_url("**/account/security")
    wait_until_loaded(page)
    assert page.locator("#signed-in-as").inner_text() == user.email


FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def test_this_wasnt_me_link_of_a_new_device_mail_signs_that_session_out(pages, make_user):
    user = make_user("noticed@example.com", verified=True)
    usual = pages.new_page()
    sign_in(usual, user.email)
    intruder = pages.new_page(pages.new_context(user_agent=FIREFOX_LINUX))
    sign_in(intruder, user.email)  # a new device: the account's mailbox hears of it
    link = last_link("report-session")

    usual.goto(link)
    assert "token=" not in usual.url
    usual.get_by_role("button", name="It wasn't me: sign that session out").click()
    usual.get_by_text("That session is signed out.").wait_for()
    intruder.get_by_role("link", name="Your sessions").click()
    intruder.wait_for_url("**/account/?*reason=session-ended*")


def test_the_pages_bind_the_session_to_a_key_no_script_can_read(pages, make_user):
    """DPoP in the browser client: a non-extractable WebCrypto key (kept in IndexedDB as
    an opaque CryptoKey) signs a proof for every call; the session is bound to it, a
    reload refreshes with it, and a Bearer use of the page's token is refused."""
    from secureauth.models import Session

    from .flows import SESSION_MODULE

    user = make_user("bound@example.com", verified=True)
    page = pages.new_page()
    sign_in(page, user.email)
    state = page.evaluate(
        f"""async () => {{
            const {{ client }} = await import('{SESSION_MODULE}');
            const signer = await client.dpopSigner();
            return {{ type: client.tokenType, extractable: signer.extractable }};
        }}"""
    )
    assert state == {"type": "DPoP", "extractable": False}
    session = Session.objects.get(user=user)
    assert len(session.dpop_jkt) == 43  # an RFC 7638 thumbprint
    page.reload()  # the refresh cookie is bound: the reload's refresh signs with the key
    wait_until_loaded(page)
    assert Session.objects.get(user=user).dpop_jkt == session.dpop_jkt
    assert (
        page.evaluate(
            f"""async () => {{
            const {{ client }} = await import('{SESSION_MODULE}');
            const me = await client.request('me/');
            return me.email;
        }}"""
        )
        == user.email
    )
    # The same access token without a proof, as a thief would send it, is refused.
    with page.expect_request(lambda request: request.url.endswith("/auth/me/")) as sent:
        page.evaluate(
            f"async () => {{ await (await import('{SESSION_MODULE}')).client.request('me/'); }}"
        )
    scheme, token = sent.value.headers["authorization"].split(" ")
    assert scheme == "DPoP" and sent.value.headers["dpop"].count(".") == 2
    from rest_framework.test import APIClient

    stolen = APIClient().get("/auth/me/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert (stolen.status_code, stolen.json()["code"]) == (401, "invalid_dpop_proof")
