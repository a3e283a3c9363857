"""The sessions page: every device, revoking one, signing out everywhere else; and two
tabs whose access tokens expire together staying signed in (single-flight refresh)."""

from __future__ import annotations

import time

import pytest

from secureauth.models import RefreshToken, Session

from .flows import SESSION_MODULE, sign_in, wait_until_loaded

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


def test_revoke_a_session_from_another_browser_and_sign_out_everywhere_else(pages, make_user):
    user = make_user("sessions@example.com", verified=True)
    phone_width = {"width": 390, "height": 844}
    phone = pages.new_page(pages.new_context(user_agent=IPHONE, viewport=phone_width))
    laptop = pages.new_page(pages.new_context(user_agent=FIREFOX_WINDOWS))
    desk = pages.new_page()
    for page in (phone, laptop, desk):
        sign_in(page, user.email)

    for page in (phone, desk):
        page.goto("/account/sessions")
        wait_until_loaded(page)
    cards = desk.locator("#session-list .card")
    assert cards.count() == 3
    current = desk.locator("#session-list .card.current")
    assert current.count() == 1 and "This device" in current.inner_text()
    assert "Chrome" in current.inner_text() and "Linux" in current.inner_text()
    phone_card = cards.filter(has_text="iOS")
    assert "Mobile Safari" in phone_card.inner_text() and "Phone" in phone_card.inner_text()
    assert "127.0.0.1" in phone_card.inner_text()
    pages.screenshot(desk, "sessions")
    pages.screenshot(phone, "sessions-phone")

    # Revoke the phone's session from the desk: the phone is signed out on its next action.
    phone_card.get_by_role("button", name="Sign out").click()
    desk.get_by_text("is signed out.").wait_for()
    assert desk.locator("#session-list .card").count() == 2
    phone.get_by_role("button", name="Sign out everywhere else (2)").click()
    phone.wait_for_url("**/account/?*reason=session-ended*")
    phone.get_by_text("Your session has ended").wait_for()
    # Any page the phone opens now asks it to sign in again.
    phone.goto("/account/security")
    phone.wait_for_url("**/account/?*reason=session-ended*")

    # Sign out everywhere else: the laptop's session ends, the desk's stays.
    desk.get_by_role("button", name="Sign out everywhere else (1)").click()
    desk.get_by_text("1 other session is signed out.").wait_for()
    assert desk.locator("#session-list .card").count() == 1
    assert Session.objects.filter(user=user, revoked_at__isnull=True).count() == 1
    laptop.reload()
    laptop.wait_for_url("**/account/?*")
    desk.reload()
    wait_until_loaded(desk)
    assert desk.locator("#session-list .card.current").count() == 1


BURST = """async ([module, startAt]) => {
    const { client } = await import(module);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())));
    const answers = await Promise.allSettled(
        Array.from({ length: 20 }, () => client.request("me/"))
    );
    return answers.map(
        (answer) => answer.status === "fulfilled" ? answer.value.email : answer.reason.code
    );
}"""


#: hides the Web Locks API, as in a browser without it (or outside a secure context)
WITHOUT_WEB_LOCKS = "Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined });"


@pytest.mark.parametrize(
    ("coordination", "grace_seconds"),
    [
        # With Web Locks refreshes never overlap: no grace window is needed at all.
        ("web-locks", 0),
        # The BroadcastChannel fallback: two tabs claiming at the same instant may both
        # refresh; the server's grace window answers both with the same token.
        ("broadcast-channel", 10),
    ],
)
def test_two_tabs_refresh_once_when_their_tokens_expire_together(
    pages, make_user, settings, coordination, grace_seconds
):
    settings.SECUREAUTH = {
        **settings.SECUREAUTH,
        "ACCESS_TOKEN_LIFETIME": 2,
        "REFRESH_REUSE_GRACE_SECONDS": grace_seconds,
    }
    user = make_user("tabs@example.com", verified=True)
    context = pages.new_context()
    if coordination == "broadcast-channel":
        context.add_init_script(WITHOUT_WEB_LOCKS)
    first = pages.new_page(context)
    sign_in(first, user.email)
    second = pages.new_page(context)
    second.goto("/account/sessions")  # restores the session from the cookie
    wait_until_loaded(second)
    assert second.evaluate("() => navigator.locks === undefined") == (
        coordination == "broadcast-channel"
    )
    session = Session.objects.get(user=user)
    tokens_before = RefreshToken.objects.filter(session=session).count()

    time.sleep(2.2)  # both tabs' access tokens have expired
    start_at = int(time.time() * 1000) + 300
    results: dict[str, list] = {}

    # Both tabs fire their 20 calls at the same moment.
    first.evaluate(
        "([m, t]) => { window.burst = (" + BURST + ")([m, t]); }", [SESSION_MODULE, start_at]
    )
    second.evaluate(
        "([m, t]) => { window.burst = (" + BURST + ")([m, t]); }", [SESSION_MODULE, start_at]
    )
    results["first"] = first.evaluate("() => window.burst")
    results["second"] = second.evaluate("() => window.burst")

    assert results["first"] == [user.email] * 20
    assert results["second"] == [user.email] * 20
    session.refresh_from_db()
    assert session.revoked_at is None
    # One refresh for the burst (two at most, if the second tab's lock came before the
    # first tab's announcement): never one per call or per tab race.
    refreshes = RefreshToken.objects.filter(session=session).count() - tokens_before
    assert 1 <= refreshes <= 2, refreshes
    for page in (first, second):
        page.reload()
        wait_until_loaded(page)
        assert page.locator("#signed-in-as").inner_text() == user.email
