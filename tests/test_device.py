"""Device info from the User-Agent and the client IP behind trusted proxies."""

from __future__ import annotations

import pytest

from secureauth.client import client_ip, device_display_name, parse_device
from tests.conftest import PASSWORD, secureauth_settings

UAS = {
    "desktop_chrome": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    ),
    "iphone_safari": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    ),
    "ipad": (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    ),
    "android_phone": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"
    ),
    "android_tablet": (
        "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    ),
    "googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl": "curl/8.5.0",
    "empty": "",
}

EXPECTED = {
    # ua: (name, browser, os, type)
    "desktop_chrome": ("Chrome on Windows", "Chrome", "Windows", "desktop"),
    "iphone_safari": ("Mobile Safari on iOS", "Mobile Safari", "iOS", "mobile"),
    "ipad": ("Mobile Safari on iOS", "Mobile Safari", "iOS", "tablet"),
    "android_phone": ("Chrome Mobile on Android", "Chrome Mobile", "Android", "mobile"),
    "android_tablet": ("Chrome on Android", "Chrome", "Android", "tablet"),
    "googlebot": ("Googlebot", "Googlebot", "", "bot"),
    "curl": ("curl", "curl", "", "bot"),
    "empty": ("Unknown device", "", "", "other"),
}


def signin(api, user, device_name: str = "", **headers) -> dict:
    body = {"email": user.email, "password": PASSWORD, "device_name": device_name}
    response = api.post("/auth/login/", body, format="json", **headers)
    assert response.status_code == 200, response.content
    return response.json()["session"]


# Device


@pytest.mark.parametrize("kind", sorted(UAS))
def test_device_is_derived_from_the_user_agent(api, user, kind):
    session = signin(api, user, HTTP_USER_AGENT=UAS[kind])
    name, browser, os_name, device_type = EXPECTED[kind]
    assert session["device"] == {
        "name": name,
        "browser": browser,
        "os": os_name,
        "type": device_type,
    }
    assert session["user_agent"] == UAS[kind]


@pytest.mark.parametrize("kind", sorted(UAS))
def test_parse_device(kind):
    info = parse_device(UAS[kind])
    name, browser, os_name, device_type = EXPECTED[kind]
    assert (info.browser, info.os, info.type) == (browser, os_name, device_type)
    assert device_display_name(info) == name
    assert device_display_name(info, "Kitchen tablet") == "Kitchen tablet"


def test_device_name_overrides_the_derived_name(api, user):
    session = signin(api, user, "Ann's phone", HTTP_USER_AGENT=UAS["iphone_safari"])
    assert session["device"] == {
        "name": "Ann's phone",
        "browser": "Mobile Safari",
        "os": "iOS",
        "type": "mobile",
    }


def test_a_missing_user_agent_is_other(api, user):
    session = signin(api, user)
    assert session["user_agent"] == ""
    assert session["device"]["type"] == "other"


def test_a_very_long_user_agent_is_truncated(api, user):
    ua = UAS["desktop_chrome"] + " x" * 2000
    session = signin(api, user, HTTP_USER_AGENT=ua)
    assert session["user_agent"] == ua[:256]
    assert session["device"]["browser"] == "Chrome"


def test_a_too_long_device_name_is_a_field_error(api, user):
    body = {"email": user.email, "password": PASSWORD, "device_name": "n" * 129}
    response = api.post("/auth/login/", body, format="json")
    assert response.status_code == 400
    assert "device_name" in response.json()


# Client IP and NUM_PROXIES


def test_without_proxies_x_forwarded_for_is_ignored(api, user):
    session = signin(api, user, REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert session["ip"] == "198.51.100.4"


@pytest.mark.parametrize(
    ("forwarded_for", "expected"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("6.6.6.6, 203.0.113.9", "203.0.113.9"),  # spoofed leftmost entry ignored
        ("6.6.6.6,203.0.113.9", "203.0.113.9"),
        ("2001:db8::1", "2001:db8::1"),
        ("not-an-ip", "198.51.100.4"),  # invalid: REMOTE_ADDR
        ("6.6.6.6, 999.1.1.1", "198.51.100.4"),
        ("", "198.51.100.4"),
    ],
)
def test_one_proxy_trusts_the_last_entry(api, user, forwarded_for, expected):
    with secureauth_settings(NUM_PROXIES=1):
        session = signin(api, user, REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR=forwarded_for)
    assert session["ip"] == expected


def test_two_proxies_trust_the_second_to_last_entry(api, user):
    with secureauth_settings(NUM_PROXIES=2):
        session = signin(
            api,
            user,
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9, 10.0.0.1",
        )
    assert session["ip"] == "203.0.113.9"


def test_refresh_records_the_clients_current_ip(api, user):
    body = {"email": user.email, "password": PASSWORD}
    tokens = api.post("/auth/login/", body, format="json", REMOTE_ADDR="192.0.2.10").json()
    assert tokens["session"]["ip"] == "192.0.2.10"
    response = api.post(
        "/auth/refresh/",
        {"refresh_token": tokens["refresh_token"]},
        format="json",
        REMOTE_ADDR="192.0.2.20",
    )
    assert response.status_code == 200
    assert response.json()["session"]["ip"] == "192.0.2.20"


@pytest.mark.parametrize(
    ("num_proxies", "remote_addr", "forwarded_for", "expected"),
    [
        (0, "192.0.2.1", "203.0.113.9", "192.0.2.1"),
        (0, "192.0.2.1", None, "192.0.2.1"),
        (1, "192.0.2.1", None, "192.0.2.1"),
        (1, "192.0.2.1", "203.0.113.9", "203.0.113.9"),
        (1, "192.0.2.1", "1.1.1.1, 2.2.2.2, 203.0.113.9", "203.0.113.9"),
        (1, "192.0.2.1", " 203.0.113.9 ", "203.0.113.9"),
        (1, "192.0.2.1", "203.0.113.9:443", "203.0.113.9"),  # a port is dropped
        (1, "192.0.2.1", "<script>", "192.0.2.1"),
        (2, "192.0.2.1", "1.1.1.1, 203.0.113.9, 10.0.0.1", "203.0.113.9"),
        (2, "192.0.2.1", "203.0.113.9", "203.0.113.9"),
        (0, "garbage", None, None),
        (0, None, None, None),
        (0, "::1", None, "::1"),
    ],
)
def test_client_ip(num_proxies, remote_addr, forwarded_for, expected):
    with secureauth_settings(NUM_PROXIES=num_proxies):
        assert client_ip(remote_addr, forwarded_for) == expected


# The user agent is client-supplied: shown bounded and without control characters

HOSTILE_UA = (
    "Mozilla/5.0\r\nX-Injected: 1\n\x1b[2J\x07\x7f\x85\x9b"
    "\u202eevil\u202c\u202a\u202b\u202d\u2066\u2067\u2068\u2069 tail" + "A" * 600
)
UNSAFE = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))] + [
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
]


def audit_user_agents(api, user, user_agent: str) -> list[str]:
    """Sign in with ``user_agent``; the user agents GET audit/ then shows."""
    body = {"email": user.email, "password": PASSWORD}
    tokens = api.post("/auth/login/", body, format="json", HTTP_USER_AGENT=user_agent).json()
    response = api.get("/auth/audit/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert response.status_code == 200, response.content
    return [event["user_agent"] for event in response.json()["results"]]


def test_audit_shows_a_hostile_user_agent_bounded_and_neutralized(api, user):
    # The attacker fails a login on the victim's account with a User-Agent of its choosing.
    failed = api.post(
        "/auth/login/",
        {"email": user.email, "password": "not the password"},
        format="json",
        HTTP_USER_AGENT=HOSTILE_UA,
    )
    assert failed.status_code == 401
    shown = audit_user_agents(api, user, HOSTILE_UA)  # the victim's own sign-in, too
    expected = "".join("\ufffd" if ch in UNSAFE else ch for ch in HOSTILE_UA[:256])
    assert expected.startswith("Mozilla/5.0\ufffd\ufffdX-Injected: 1\ufffd\ufffd[2J")
    assert len(shown) == 2
    for user_agent in shown:
        assert user_agent == expected
        assert len(user_agent) == 256 and not set(user_agent) & set(UNSAFE)


def test_audit_shows_an_ordinary_user_agent_verbatim(api, user):
    unicode_ua = "Mozilla/5.0 (Linux; Android 14; Pixel 8) Überbrowser/1.0 日本語"
    assert audit_user_agents(api, user, UAS["desktop_chrome"]) == [UAS["desktop_chrome"]]
    assert audit_user_agents(api, user, unicode_ua)[0] == unicode_ua


def test_device_derived_from_a_hostile_user_agent_is_neutralized(api, user):
    hostile = (
        "Mozilla/5.0 (Linux; Android 14; Pi\u202exel\n8) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
        "x\u202eygg\x1b/1.0 CFNetwork/1.0 Darwin/1",
        "Evil\nBot\u2066/1.0",
    )
    for user_agent in hostile:
        device = signin(api, user, HTTP_USER_AGENT=user_agent)["device"]
        shown = "".join(device.values())
        assert not set(shown) & set(UNSAFE), device
    assert "\ufffd" in shown  # "Evil\ufffdBot\ufffd" is still shown, neutralized


@pytest.mark.parametrize("name", ["Laptop\nThis was a routine check", "Phone\u202eevil", "a\x1bb"])
def test_a_device_name_with_control_or_bidi_characters_is_refused(api, user, name):
    """The name is shown in the session list and in security mails: it must not be able
    to forge lines there or reorder the text around it."""
    response = api.post(
        "/auth/login/",
        {"email": user.email, "password": PASSWORD, "device_name": name},
        format="json",
    )
    assert response.status_code == 400
    assert "device_name" in response.json()
