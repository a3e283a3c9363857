"""Login backoff per IP and per email, the account ceiling, fixed-window limits,
proxies, and what happens when the counters' cache is down."""

from __future__ import annotations

import logging
import threading

from django.core.cache import cache
from django.test import override_settings

from secureauth.exceptions import RateLimited
from secureauth.throttling import LoginLimiter, backoff_seconds, ip_bucket
from tests.conftest import PASSWORD, clear_caches, secureauth_settings
from tests.servers import free_port

WRONG = "not the password"


def attempt(api, email, password=WRONG, ip="198.51.100.1", **extra):
    return api.post(
        "/auth/login/",
        {"email": email, "password": password},
        format="json",
        REMOTE_ADDR=ip,
        **extra,
    )


def assert_limited(response, retry_after=None):
    assert response.status_code == 429, response.content
    assert response.json() == {
        "detail": "Too many attempts. Try again later.",
        "code": "rate_limited",
    }
    value = int(response["Retry-After"])
    assert str(value) == response["Retry-After"]
    if retry_after is not None:
        assert value == retry_after
    return value


def expire_lock(email=None, ip=None):
    """What the cache timeout does after Retry-After seconds."""
    limiter = LoginLimiter(ip, email or "")
    key = limiter.email_key if email else limiter.ip_key
    cache.delete(limiter.lock_key(key))


# --- the backoff rule -------------------------------------------------------------


def test_backoff_seconds_table():
    # defaults: 5 failures allowed, base 30 s, cap 15 min
    assert [backoff_seconds(n) for n in range(1, 12)] == [
        0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900,
    ]  # fmt: skip
    with secureauth_settings(LOGIN_FAILURES_ALLOWED=2, LOGIN_BACKOFF_BASE=1, LOGIN_BACKOFF_MAX=5):
        assert [backoff_seconds(n) for n in range(1, 7)] == [0, 1, 2, 4, 5, 5]
    assert backoff_seconds(10**6) == 900


def test_ip_bucket_groups_ipv6_by_64():
    assert ip_bucket("203.0.113.7") == "203.0.113.7"
    assert (
        ip_bucket("2001:db8:1:2:aaaa::1")
        == ip_bucket("2001:db8:1:2:bbbb::9")
        == ("2001:db8:1:2::/64")
    )
    assert ip_bucket("2001:db8:1:3::1") != ip_bucket("2001:db8:1:2::1")
    assert ip_bucket("::ffff:198.51.100.4") == "198.51.100.4"


# --- per email ----------------------------------------------------------------------


def test_retry_after_doubles_per_further_attempt_up_to_the_cap(api, user):
    # Every attempt from another IP: only the email's counter is in play.
    for i in range(5):
        assert attempt(api, user.email, ip=f"198.51.100.{i}").status_code == 401
    expected = [60, 120, 240, 480, 900, 900]
    for i, retry_after in enumerate(expected):
        assert_limited(attempt(api, user.email, ip=f"192.0.2.{i}"), retry_after)


def test_cap_is_login_backoff_max(api, user):
    with secureauth_settings(LOGIN_BACKOFF_MAX=100):
        for i in range(5):
            attempt(api, user.email, ip=f"198.51.100.{i}")
        got = [assert_limited(attempt(api, user.email, ip=f"192.0.2.{i}")) for i in range(3)]
    assert got == [60, 100, 100]


def test_correct_password_is_refused_while_locked(api, user):
    for i in range(5):
        attempt(api, user.email, ip=f"198.51.100.{i}")
    assert_limited(attempt(api, user.email, PASSWORD, ip="192.0.2.1"), 60)
    # Once the lock has run out, the right password gets in and clears the count.
    expire_lock(email=user.email)
    assert attempt(api, user.email, PASSWORD, ip="192.0.2.2").status_code == 200
    for i in range(4):
        assert attempt(api, user.email, ip=f"203.0.113.{i}").status_code == 401


def test_after_a_lock_runs_out_one_more_failure_locks_again_for_longer(api, user):
    for i in range(5):
        attempt(api, user.email, ip=f"198.51.100.{i}")
    expire_lock(email=user.email)
    assert attempt(api, user.email, ip="192.0.2.1").status_code == 401  # 6th failure
    assert_limited(attempt(api, user.email, ip="192.0.2.2"), 120)  # 7th, refused


def test_unknown_email_is_locked_exactly_like_a_real_one(api, user):
    answers = {}
    for email in (user.email, "ghost@example.com"):
        codes = [attempt(api, email, ip=f"198.51.{i}.1").status_code for i in range(5)]
        refused = attempt(api, email, ip="192.0.2.9")
        answers[email] = (codes, refused.status_code, refused["Retry-After"], refused.json())
        clear_caches()
    assert answers[user.email] == answers["ghost@example.com"]
    assert answers[user.email][0] == [401] * 5


def test_email_is_counted_case_and_space_insensitively(api, user):
    for i, variant in enumerate(["ALICE@example.com", " alice@EXAMPLE.com ", user.email] * 2):
        if i < 5:
            attempt(api, variant, ip=f"198.51.100.{i}")
    assert_limited(attempt(api, "Alice@Example.Com", PASSWORD, ip="192.0.2.1"))


# --- per IP -------------------------------------------------------------------------


def test_ip_is_locked_whatever_the_emails(api, user):
    for i in range(5):
        assert attempt(api, f"victim{i}@example.com", ip="198.51.100.7").status_code == 401
    assert_limited(attempt(api, user.email, PASSWORD, ip="198.51.100.7"), 60)
    # The same account from another address is fine, and the refused attempt was
    # not counted against the email (only against the locked IP).
    assert attempt(api, user.email, PASSWORD, ip="198.51.100.8").status_code == 200
    limiter = LoginLimiter(None, user.email)
    assert cache.get(limiter.failures_key(limiter.email_key)) is None


def test_success_resets_the_email_counter_but_not_the_ip_counter(api, user, make_user):
    ip = "198.51.100.20"
    for _ in range(4):
        assert attempt(api, user.email, ip=ip).status_code == 401
    assert attempt(api, user.email, PASSWORD, ip=ip).status_code == 200
    # The email starts again from zero (4 more failures from elsewhere: no lock) ...
    for i in range(4):
        assert attempt(api, user.email, ip=f"203.0.113.{i}").status_code == 401
    # ... but the IP still holds its 4 failures: one more and it is locked.
    bob = make_user("bob@example.com")
    assert attempt(api, bob.email, ip=ip).status_code == 401
    assert_limited(attempt(api, bob.email, PASSWORD, ip=ip), 60)


def test_ipv6_addresses_of_one_64_share_a_counter(api, db):
    for i in range(5):
        attempt(api, f"v{i}@example.com", ip=f"2001:db8:0:1::{i + 1}")
    assert_limited(attempt(api, "other@example.com", ip="2001:db8:0:1:ffff::1"))
    assert attempt(api, "other@example.com", ip="2001:db8:0:2::1").status_code == 401


# --- proxies ------------------------------------------------------------------------


def test_forwarded_for_is_ignored_without_trusted_proxies(api, db):
    for i in range(5):
        attempt(api, f"v{i}@example.com", ip="198.51.100.30", HTTP_X_FORWARDED_FOR=f"10.9.0.{i}")
    refused = attempt(api, "x@example.com", ip="198.51.100.30", HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert_limited(refused)


def test_spoofed_forwarded_for_cannot_bypass_or_reset_a_lock(api, user):
    proxy = "10.0.0.1"
    client = "203.0.113.50"
    with secureauth_settings(NUM_PROXIES=1):
        # The proxy appends the address it saw; whatever the client wrote comes first.
        for i in range(5):
            response = attempt(
                api, f"v{i}@example.com", ip=proxy, HTTP_X_FORWARDED_FOR=f"1.1.1.{i}, {client}"
            )
            assert response.status_code == 401
        for spoof in ("9.9.9.9", "9.9.9.9, 8.8.8.8", "garbage"):
            refused = attempt(
                api, user.email, PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR=f"{spoof}, {client}"
            )
            assert_limited(refused)
        # Another real client behind the same proxy is not affected.
        other = attempt(api, user.email, PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR="203.0.113.51")
        assert other.status_code == 200
        # And still locked: nothing above reset the client's counter.
        assert_limited(attempt(api, user.email, PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR=client))


def test_two_trusted_proxies_take_the_second_entry_from_the_right(api, db):
    with secureauth_settings(NUM_PROXIES=2):
        for i in range(5):
            attempt(
                api,
                f"v{i}@example.com",
                ip="10.0.0.2",
                HTTP_X_FORWARDED_FOR=f"6.6.6.{i}, 203.0.113.60, 10.0.0.1",
            )
        assert_limited(
            attempt(
                api,
                "x@example.com",
                ip="10.0.0.2",
                HTTP_X_FORWARDED_FOR="7.7.7.7, 203.0.113.60, 10.0.0.1",
            )
        )


# --- the account ceiling ------------------------------------------------------------


def test_account_ceiling_holds_across_many_ips(api, user):
    # A lenient lock, so only the ceiling stands in the way.
    with secureauth_settings(LOGIN_FAILURES_ALLOWED=1000, ACCOUNT_FAILURES_PER_HOUR=3):
        for i in range(3):
            assert attempt(api, user.email, ip=f"198.51.{i}.1").status_code == 401
        refused = attempt(api, user.email, PASSWORD, ip="203.0.113.77")
        retry_after = assert_limited(refused)
        assert 1 <= retry_after <= 3600
        # Another account is not affected.
        assert attempt(api, "someone-else@example.com", ip="203.0.113.78").status_code == 401


def test_a_success_does_not_reset_the_account_ceiling(api, user):
    with secureauth_settings(LOGIN_FAILURES_ALLOWED=1000, ACCOUNT_FAILURES_PER_HOUR=3):
        attempt(api, user.email, ip="198.51.0.1")
        attempt(api, user.email, ip="198.51.0.2")
        assert attempt(api, user.email, PASSWORD, ip="198.51.0.3").status_code == 200
        assert attempt(api, user.email, ip="198.51.0.4").status_code == 401
        assert_limited(attempt(api, user.email, PASSWORD, ip="198.51.0.5"))


def test_default_ceiling_is_100_per_hour():
    from secureauth.conf import app_settings

    assert app_settings.ACCOUNT_FAILURES_PER_HOUR == 100


# --- concurrency --------------------------------------------------------------------


def test_parallel_attempts_cannot_slip_past_the_allowance(db):
    """20 attempts at once on one email: exactly LOGIN_FAILURES_ALLOWED get through."""
    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        limiter = LoginLimiter(f"198.51.100.{i}", "target@example.com")
        barrier.wait()
        try:
            limiter.check()
            result = "passed"
        except RateLimited:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("passed") == 5
    assert outcomes.count("refused") == 15


# --- fixed windows ------------------------------------------------------------------


def test_refresh_is_rate_limited_per_ip(api, db):
    with secureauth_settings(RATE_LIMITS={"refresh": "3/m"}):
        for _ in range(3):
            response = api.post(
                "/auth/refresh/", {"refresh_token": "x" * 43}, format="json", REMOTE_ADDR="1.2.3.4"
            )
            assert response.status_code == 401
        refused = api.post(
            "/auth/refresh/", {"refresh_token": "x" * 43}, format="json", REMOTE_ADDR="1.2.3.4"
        )
        value = assert_limited(refused)
        assert 1 <= value <= 60
        other = api.post(
            "/auth/refresh/", {"refresh_token": "x" * 43}, format="json", REMOTE_ADDR="1.2.3.5"
        )
        assert other.status_code == 401


def test_register_is_rate_limited_per_ip(api, db):
    with secureauth_settings(RATE_LIMITS={"register": "2/h"}):
        for i in range(2):
            response = api.post(
                "/auth/register/",
                {"email": f"new{i}@example.com", "password": PASSWORD},
                format="json",
                REMOTE_ADDR="1.2.3.4",
            )
            assert response.status_code == 201
        refused = api.post(
            "/auth/register/",
            {"email": "new9@example.com", "password": PASSWORD},
            format="json",
            REMOTE_ADDR="1.2.3.4",
        )
        value = assert_limited(refused)
        assert 1 <= value <= 3600


# --- the cache is down --------------------------------------------------------------


def dead_cache():
    return override_settings(
        CACHES={
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
                "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
            }
        }
    )


def test_login_fails_closed_when_the_cache_is_down(api, user, caplog):
    caplog.set_level(logging.ERROR, logger="secureauth")
    with dead_cache():
        response = attempt(api, user.email, PASSWORD)
    assert response.status_code == 503
    assert response.json() == {
        "detail": "Rate limiting is unavailable; try again shortly.",
        "code": "service_unavailable",
    }
    assert any(
        r.name == "secureauth" and "failing closed" in r.getMessage() for r in caplog.records
    )


def test_fixed_window_endpoints_fail_closed_too(api, db):
    with dead_cache():
        response = api.post(
            "/auth/register/", {"email": "n@example.com", "password": PASSWORD}, format="json"
        )
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"


def test_fail_open_setting_lets_login_through(api, user, caplog):
    caplog.set_level(logging.ERROR, logger="secureauth")
    with dead_cache(), secureauth_settings(RATE_LIMIT_FAIL_OPEN=True):
        ok = attempt(api, user.email, PASSWORD)
        wrong = attempt(api, user.email)
    assert ok.status_code == 200
    assert wrong.status_code == 401
    assert any("failing open" in r.getMessage() for r in caplog.records)


def test_counters_live_in_the_configured_cache(api, user):
    caches_setting = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "limits": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "l"},
    }
    with override_settings(CACHES=caches_setting), secureauth_settings(RATE_LIMIT_CACHE="limits"):
        from django.core.cache import caches

        for i in range(5):
            attempt(api, user.email, ip=f"198.51.100.{i}")
        limiter = LoginLimiter(None, user.email)
        assert caches["limits"].get(limiter.failures_key(limiter.email_key)) == 5
        assert caches["default"].get(limiter.failures_key(limiter.email_key)) is None
