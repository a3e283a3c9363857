"""The client IP behind trusted proxies: X-Forwarded-For entries may carry a port, headers
folded by the server are one list, and nothing left of the NUM_PROXIES-th entry from the
right is ever trusted."""

from __future__ import annotations

import ipaddress

import pytest

from secureauth.client import client_ip
from tests.conftest import PASSWORD, secureauth_settings
from tests.test_rate_limit import assert_limited, attempt

PROXY = "10.0.0.1"


@pytest.mark.parametrize(
    ("forwarded_for", "expected"),
    [
        ("203.0.113.5:4711", "203.0.113.5"),
        ("[2001:db8::1]:4711", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        (" 203.0.113.5:80 ", "203.0.113.5"),
        ("6.6.6.6:1, 203.0.113.5:4711", "203.0.113.5"),
        ("[2001:DB8::0001]:443", "2001:db8::1"),  # normalized
        ("[::ffff:203.0.113.5]:1", str(ipaddress.ip_address("::ffff:203.0.113.5"))),
        # not an address (or not a port): REMOTE_ADDR
        ("203.0.113.5:", PROXY),
        ("203.0.113.5:port", PROXY),
        ("203.0.113.5:４７", PROXY),  # non-ASCII digits are not a port
        ("203.0.113.5:99999999", PROXY),
        ("[203.0.113.5]:80", PROXY),  # brackets are for IPv6 only
        ("[2001:db8::1", PROXY),
        ("2001:db8::1]:80", PROXY),
        ("[2001:db8::1]:80:80", PROXY),
        ("2001:db8::1:4711x", PROXY),
        ("203.0.113.5:80:80", PROXY),
        ("example.com:80", PROXY),
        ("[]:80", PROXY),
        ("１.２.３.４", PROXY),  # non-ASCII digits are not an address
    ],
)
def test_one_proxy_accepts_an_entry_with_a_port(forwarded_for, expected):
    with secureauth_settings(NUM_PROXIES=1):
        assert client_ip(PROXY, forwarded_for) == expected


@pytest.mark.parametrize(
    ("num_proxies", "forwarded_for", "expected"),
    [
        # Two headers folded by the server ("a" + "," + "b", gunicorn and wsgiref alike).
        (1, "6.6.6.6,203.0.113.5", "203.0.113.5"),
        (1, "6.6.6.6, 7.7.7.7,203.0.113.5:4711", "203.0.113.5"),
        (2, "6.6.6.6,203.0.113.5:4711, 10.0.0.2", "203.0.113.5"),
        (2, "6.6.6.6:1,[2001:db8::7]:2,10.0.0.2:3", "2001:db8::7"),
        # An empty header folded in is an entry like any other: positions never shift
        # so that a client-written entry moves into the trusted place.
        (2, "6.6.6.6, , 10.0.0.2", PROXY),
        (1, "203.0.113.5,", PROXY),
        # The chosen entry invalid: REMOTE_ADDR, never an entry further left.
        (1, "203.0.113.9, garbage", PROXY),
        (2, "203.0.113.9, garbage, 10.0.0.2", PROXY),
        # Fewer entries than proxies: the leftmost was still written by a trusted proxy.
        (2, "203.0.113.5:4711", "203.0.113.5"),
    ],
)
def test_folded_headers_are_one_list_read_from_the_right(num_proxies, forwarded_for, expected):
    with secureauth_settings(NUM_PROXIES=num_proxies):
        assert client_ip(PROXY, forwarded_for) == expected


def test_remote_addr_is_used_without_proxies_even_with_a_port_in_forwarded_for():
    with secureauth_settings(NUM_PROXIES=0):
        assert client_ip(PROXY, "203.0.113.5:4711") == PROXY


def test_login_failures_are_counted_per_forwarded_client_with_a_port(api, user):
    """Behind one proxy, clients whose forwarded entry has a port each get their own
    bucket (today every one of them falls back to the proxy's address)."""
    with secureauth_settings(NUM_PROXIES=1):
        for i in range(5):
            response = attempt(
                api, f"v{i}@example.com", ip=PROXY, HTTP_X_FORWARDED_FOR=f"203.0.113.5:{4700 + i}"
            )
            assert response.status_code == 401, response.content
        # The same client on another port is still that client: locked.
        assert_limited(
            attempt(api, user.email, PASSWORD, ip=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.5:9")
        )
        # Another client behind the same proxy is not.
        for other in ("[2001:db8::1]:4711", "203.0.113.6:4711", "6.6.6.6, 198.51.100.7:1"):
            response = attempt(api, user.email, PASSWORD, ip=PROXY, HTTP_X_FORWARDED_FOR=other)
            assert response.status_code == 200, (other, response.content)
        # A spoofed entry left of the trusted one changes nothing.
        assert_limited(
            attempt(
                api,
                user.email,
                PASSWORD,
                ip=PROXY,
                HTTP_X_FORWARDED_FOR="198.51.100.99:1,203.0.113.5:4711",
            )
        )


def test_session_records_the_forwarded_ip_without_its_port(api, user):
    with secureauth_settings(NUM_PROXIES=1):
        response = api.post(
            "/auth/login/",
            {"email": user.email, "password": PASSWORD},
            format="json",
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR="[2001:db8::1]:4711",
        )
    assert response.status_code == 200, response.content
    assert response.json()["session"]["ip"] == "2001:db8::1"
