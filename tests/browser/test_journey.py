"""A new user's whole journey on the account pages, in Chromium."""

from __future__ import annotations

import re

from django.core import mail

from secureauth.models import Session

from .flows import (
    add_virtual_authenticator,
    last_link,
    sign_in,
    sign_out,
    totp_code,
    wait_until_loaded,
)

EMAIL = "new.user@example.com"
PASSWORD = "a long and unusual passphrase 42"


def test_sign_up_verify_totp_passkey_and_sign_in_each_way(pages):
    page = pages.new_page()
    add_virtual_authenticator(page)

    # Sign up, then open the verification link of the mail.
    page.goto("/account/sign-up")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    page.goto(last_link("verify-email"))
    page.get_by_text("Your email address is verified.").wait_for()
    assert "token=" not in page.url  # dropped from the address bar and history

    # Sign in with the password: the security page shows the verified address.
    sign_in(page, EMAIL, PASSWORD)
    assert page.locator("#email-status").inner_text() == "verified"
    assert page.locator("#signed-in-as").inner_text() == EMAIL

    # Turn on the authenticator app, reading its key from the page.
    page.get_by_role("button", name="Set up an authenticator app").click()
    page.locator("#totp-enroll").wait_for()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret)
    qr = page.locator("#totp-qr")
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", qr.element_handle())
    pages.screenshot(page, "security-totp-setup")
    page.get_by_label("Code", exact=True).fill(totp_code(secret))
    page.get_by_role("button", name="Turn on").click()
    page.get_by_role("heading", name="Your recovery codes").wait_for()
    pages.screenshot(page, "security-recovery-codes")
    codes = page.locator("#recovery-code-list li").all_inner_texts()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "On:" in page.locator("#totp-status").inner_text()
    page.get_by_role("button", name="I have saved them").click()
    assert page.locator("#recovery-codes").is_hidden()

    # Sign out; sign in again: password, then a code of the app.
    sign_out(page)
    sign_in(page, EMAIL, PASSWORD, lands_on="")
    page.get_by_role("heading", name="Two-step verification").wait_for()
    page.get_by_label("Code from your authenticator app").fill(totp_code(secret, steps_ahead=1))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/account/security")
    wait_until_loaded(page)

    # Add a passkey with the virtual authenticator.
    page.get_by_label("Name of the new passkey").fill("Test laptop")
    page.get_by_role("button", name="Add a passkey").click()
    page.locator("#passkey-list").get_by_text("Test laptop").wait_for()
    page.get_by_text("added. Your other sessions were signed out.").wait_for()
    pages.screenshot(page, "security")

    # Sign out; sign in with the passkey alone.
    sign_out(page)
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url("**/account/security")
    wait_until_loaded(page)
    page.locator("#passkey-list").get_by_text("Test laptop").wait_for()

    # The activity page tells the story in plain words.
    page.get_by_role("link", name="Account activity").click()
    wait_until_loaded(page)
    events = page.locator("#event-list .event-what").all_inner_texts()
    for words in (
        "Signed in with a passkey",
        "Passkey added",
        "Two-step verification passed with the authenticator app",
        "Authenticator app turned on",
        "Email address verified",
        "Account created",
    ):
        assert words in events, events
    pages.screenshot(page, "activity")

    # One session left: the passkey's.
    assert Session.objects.filter(revoked_at__isnull=True).count() == 1


def test_password_reset_through_the_mailed_link(pages, make_user):
    make_user(EMAIL, password=PASSWORD, verified=True)
    page = pages.new_page()
    page.goto("/account/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_role("button", name="Send reset link").click()
    page.get_by_text("we have sent it a link to reset the password").wait_for()
    link = last_link("reset-password")
    assert mail.outbox[-1].to == [EMAIL]

    response = page.goto(link)
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "token=" not in page.url
    page.get_by_label("New password").fill("123")
    page.get_by_role("button", name="Set password").click()
    page.locator("#new_password-error").wait_for()  # the validators' words, beside the field
    assert page.get_by_label("New password").get_attribute("aria-invalid") == "true"
    assert "new_password-error" in page.get_by_label("New password").get_attribute(
        "aria-describedby"
    )
    page.get_by_label("New password").fill("another long passphrase 77")
    page.get_by_role("button", name="Set password").click()
    page.get_by_text("Your password is changed").wait_for()

    sign_in(page, EMAIL, PASSWORD, lands_on="")
    page.get_by_role("alert").wait_for()
    assert "password" in page.get_by_role("alert").inner_text().lower()
    sign_in(page, EMAIL, "another long passphrase 77")
