"""Login backoff per IP and per email, the account ceiling, fixed-window limits,
proxies, and what happens when the counters' cache is down."""

from __future__ import annotations

import logging
import threading

from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient

from secureauth import races as race_points
from secureauth.exceptions import RateLimited
from secureauth.models import AuditEvent
from secureauth.throttling import LoginLimiter, backoff_seconds, ip_bucket, login_keys
from tests.conftest import PASSWORD, clear_caches, run_in_threads, secureauth_settings
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


def limit_key(email=None, ip=None):
    """The limiter key of an email, or of an IP."""
    keys = {key.name: key for key in login_keys(ip, email or "")}
    return keys["email"] if email else keys["ip"]


def expire_lock(email=None, ip=None):
    """What the cache timeout does after Retry-After seconds."""
    cache.delete(limit_key(email, ip).lock)


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


def test_retry_after_doubles_per_further_failure_up_to_the_cap(api, user):
    # Every attempt from another IP: only the email's counter is in play.
    for i in range(5):
        assert attempt(api, user.email, ip=f"198.51.100.{i}").status_code == 401
    assert_limited(attempt(api, user.email, ip="192.0.2.100"), 30)
    # Attempts refused while locked are not failures: the lock does not grow...
    for i in range(3):
        assert_limited(attempt(api, user.email, ip=f"192.0.2.{200 + i}"), 30)
    # ...each failure once it has run out doubles it.
    for i, retry_after in enumerate([60, 120, 240, 480, 900, 900]):
        expire_lock(email=user.email)
        assert attempt(api, user.email, ip=f"192.0.2.{i}").status_code == 401
        assert_limited(attempt(api, user.email, ip=f"192.0.2.{50 + i}"), retry_after)


def test_cap_is_login_backoff_max(api, user):
    with secureauth_settings(LOGIN_BACKOFF_MAX=100):
        for i in range(5):
            attempt(api, user.email, ip=f"198.51.100.{i}")
        got = [assert_limited(attempt(api, user.email, ip="192.0.2.99"))]
        for i in range(2):
            expire_lock(email=user.email)
            attempt(api, user.email, ip=f"192.0.2.{i}")
            got.append(assert_limited(attempt(api, user.email, ip="192.0.2.99")))
    assert got == [30, 60, 100]


def test_correct_password_is_refused_while_locked(api, user):
    for i in range(5):
        attempt(api, user.email, ip=f"198.51.100.{i}")
    assert_limited(attempt(api, user.email, PASSWORD, ip="192.0.2.1"), 30)
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
    assert_limited(attempt(api, user.email, ip="192.0.2.2"), 60)  # refused: locked for 60


def test_unknown_email_is_locked_exactly_like_a_real_one(api, user):
    answers = {}
    for email in (user.email, "ghost@example.com"):
        codes = [attempt(api, email, ip=f"198.51.{i}.1").status_code for i in range(5)]
        refused = attempt(api, email, ip="192.0.2.9")
        answers[email] = (codes, refused.status_code, refused["Retry-After"], refused.json())
        clear_caches()
    assert answers[user.email] == answers["ghost@example.com"]
    assert answers[user.email][0] == [401] * 5


def test_email_is_counted_under_its_canonical_key(api, user):
    variants = [
        "ALICE@example.com",
        " alice@EXAMPLE.com ",
        "ａｌｉｃｅ@example.com",  # fullwidth: NFKC folds it
        "alice@EXAMPLE.COM",
    ]
    for i, variant in enumerate([*variants, user.email]):
        attempt(api, variant, ip=f"198.51.100.{i}")
    assert_limited(attempt(api, "Alice@Example.Com", PASSWORD, ip="192.0.2.1"))


# --- per IP -------------------------------------------------------------------------


def test_ip_is_locked_whatever_the_emails(api, user):
    for i in range(5):
        assert attempt(api, f"victim{i}@example.com", ip="198.51.100.7").status_code == 401
    assert_limited(attempt(api, user.email, PASSWORD, ip="198.51.100.7"), 30)
    # The same account from another address is fine, and the refused attempt was
    # not counted against the email.
    assert attempt(api, user.email, PASSWORD, ip="198.51.100.8").status_code == 200
    assert cache.get(limit_key(user.email).failures) is None


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
    assert_limited(attempt(api, bob.email, PASSWORD, ip=ip), 30)


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
    """20 password checks at once on one email, each held at a barrier inside the
    check: at most LOGIN_FAILURES_ALLOWED run; the others are refused at once with
    Retry-After 1 and counted nowhere."""
    barrier = threading.Barrier(5, timeout=10)
    outcomes: list[object] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        limiter = LoginLimiter(f"198.51.100.{i}", "target@example.com")
        try:
            with limiter.attempt():
                barrier.wait()  # only the admitted reach this: all five at once
                limiter.failed()
            result: object = "checked"
        except RateLimited as refused:
            result = refused.retry_after
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("checked") == 5
    # Refused because five were running (Retry-After 1), or after the five failures
    # locked the email (the lock's 30 s): never a sixth check.
    assert all(r in (1, 30) for r in outcomes if r != "checked")
    assert cache.get(limit_key("target@example.com").failures) == 5


def test_concurrent_correct_logins_from_one_ip_are_never_locked_out(
    api, make_user, transactional_db
):
    """An office behind one NAT: many people sign in at once with the right password.
    Beyond the allowance they may be asked to retry in a second; nobody is locked."""
    users = [make_user(f"office{i}@example.com") for i in range(8)]
    admitted = threading.Semaphore(0)
    release = threading.Event()

    def held() -> None:  # the admitted wait inside their password check
        admitted.release()
        release.wait(timeout=30)

    def sign_in(user):
        response = attempt(APIClient(), user.email, PASSWORD, ip="203.0.113.9")
        if response.status_code == 429:
            admitted.release()  # refused at once: counts as arrived
        return response

    def release_when_all_arrived() -> None:
        for _ in users:
            admitted.acquire(timeout=30)
        release.set()

    releaser = threading.Thread(target=release_when_all_arrived)
    releaser.start()
    with race_points.hold("login.admitted", held):
        results = run_in_threads([lambda u=u: sign_in(u) for u in users])
    releaser.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) == 5 and statuses.count(429) == 3
    assert {r["Retry-After"] for r in results if r.status_code == 429} == {"1"}
    # Nothing was counted: everyone gets in now, and the IP holds no failures.
    assert cache.get(limit_key(ip="203.0.113.9").failures) is None
    assert [attempt(api, u.email, PASSWORD, ip="203.0.113.9").status_code for u in users] == [
        200
    ] * 8


def test_a_database_outage_never_locks_anyone_out(api, user, monkeypatch):
    """Logins that end in 503 (the database is down after the limiter admitted them)
    add nothing to any count: after the outage the right password gets in."""
    from django.db import OperationalError

    from secureauth.services import login as login_service

    def down(email):
        raise OperationalError("connection refused")

    monkeypatch.setattr(login_service, "find_user_by_email", down)
    for _ in range(20):
        response = attempt(api, user.email, PASSWORD, ip="198.51.100.40")
        assert response.status_code == 503
    monkeypatch.undo()
    assert attempt(api, user.email, PASSWORD, ip="198.51.100.40").status_code == 200
    assert cache.get(limit_key(ip="198.51.100.40").failures) is None


def test_ipv6_failures_are_also_counted_per_48(api, db):
    """An attacker with a /48 has 65,536 /64s: the /48 has an allowance of its own."""
    with secureauth_settings(LOGIN_NETWORK_FAILURES_ALLOWED=6):
        for i in range(6):  # six /64s of one /48, one failure each
            assert attempt(api, f"v{i}@example.com", ip=f"2001:db8:5:{i}::1").status_code == 401
        assert_limited(attempt(api, "w@example.com", ip="2001:db8:5:99::1"))
        # Another /48 is not affected.
        assert attempt(api, "w@example.com", ip="2001:db8:6::1").status_code == 401


def test_a_lock_writes_one_audit_event(api, user):
    for i in range(5):
        attempt(api, user.email, ip=f"198.51.100.{i}")
    for i in range(50):
        assert_limited(attempt(api, user.email, PASSWORD, ip=f"192.0.2.{i}"))
    assert AuditEvent.objects.filter(event="login_rate_limited").count() == 1


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
        key = limit_key(user.email)
        assert caches["limits"].get(key.failures) == 5
        assert caches["default"].get(key.failures) is None
