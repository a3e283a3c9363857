"""Rate limiting: login backoff per IP and per email, an account ceiling, and
fixed-window limits on the other public endpoints.

Every counter lives in one Django cache (``rate_limit_cache_alias()``), so with
Redis every process sees the same counters; every key carries a timeout, so
nothing needs cleaning up. When that cache cannot be reached, limits fail
closed (``ServiceUnavailable``, HTTP 503) unless ``RATE_LIMIT_FAIL_OPEN`` is on.

Login rule (see docs/security.md): failures are counted per client IP and per
submitted email, whether or not the account exists. The attempt that brings a
key to ``LOGIN_FAILURES_ALLOWED`` failures locks it for ``LOGIN_BACKOFF_BASE``
seconds; an attempt on a locked key is refused with 429 and counts as one more
failure, so the lock (and ``Retry-After``) doubles with each further attempt,
up to ``LOGIN_BACKOFF_MAX``. A success clears the email's counter, never the
IP's. Each attempt is counted *before* the password is checked, with atomic
cache operations, so parallel requests cannot slip past the allowance.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import caches
from django_ratelimit.core import get_usage

from .conf import app_settings
from .exceptions import RateLimited, ServiceUnavailable

logger = logging.getLogger("secureauth")
T = TypeVar("T")

#: IPv6 clients are counted per /64 (one subscriber's usual allocation).
IPV6_PREFIX = 64


class CacheUnavailable(Exception):
    """The rate-limit cache answered nothing usable (e.g. errors swallowed by the backend)."""


def rate_limit_cache_alias() -> str:
    """``RATE_LIMIT_CACHE``, else django-ratelimit's ``RATELIMIT_USE_CACHE``, else "default"."""
    return app_settings.RATE_LIMIT_CACHE or getattr(settings, "RATELIMIT_USE_CACHE", "default")


def _cache():
    return caches[rate_limit_cache_alias()]


def _guard(operation: Callable[[], T], fallback: T) -> T:
    """Run cache operations; on an outage fail closed (503), or open if configured."""
    try:
        return operation()
    except (RateLimited, ServiceUnavailable):
        raise
    except Exception as exc:  # any backend error: connection refused, timeout, ...
        fail_open = app_settings.RATE_LIMIT_FAIL_OPEN
        logger.error(
            "secureauth rate-limit cache unavailable (%s): %s: %s",
            "failing open" if fail_open else "failing closed",
            type(exc).__name__,
            exc,
        )
        if fail_open:
            return fallback
        raise ServiceUnavailable("Rate limiting is unavailable; try again shortly.")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def ip_bucket(ip: str) -> str:
    """The value an IP is counted under: itself for IPv4, its /64 network for IPv6."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)


def backoff_seconds(failures: int) -> int:
    """Lock length after ``failures`` failures: LOGIN_BACKOFF_BASE at the allowance,
    doubled per failure past it, capped at LOGIN_BACKOFF_MAX (0 below the allowance)."""
    allowed = app_settings.LOGIN_FAILURES_ALLOWED
    if failures < allowed:
        return 0
    base = app_settings.LOGIN_BACKOFF_BASE.total_seconds()
    cap = app_settings.LOGIN_BACKOFF_MAX.total_seconds()
    exponent = min(failures - allowed, 32)
    return max(1, int(min(cap, base * (2**exponent))))


def _incr(cache, key: str, timeout: int) -> int:
    """Atomically add one to a counter (created at 1), refreshing its timeout."""
    if cache.add(key, 1, timeout):
        return 1
    try:
        value = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout)
        return 1
    if not isinstance(value, int):
        raise CacheUnavailable(f"counter {key!r} could not be read")
    cache.touch(key, timeout)
    return value


def _decr(cache, key: str) -> None:
    try:
        cache.decr(key)
    except ValueError:  # already expired: nothing to undo
        pass


class LoginLimiter:
    """The limits one login attempt is subject to: its client IP and its email.

    ``check()`` before the password is verified (it counts the attempt as a
    failure and refuses it when a key is locked), then exactly one of
    ``record_failure()`` or ``record_success()``.
    """

    def __init__(self, ip: str | None, email: str) -> None:
        email_digest = _digest(email.strip().lower())
        self.email_key = f"secureauth:login:email:{email_digest}"
        self.ip_key = f"secureauth:login:ip:{_digest(ip_bucket(ip))}" if ip else None
        self.keys = [self.email_key] + ([self.ip_key] if self.ip_key else [])
        self.hour = int(time.time() // 3600)
        self.ceiling_key = f"secureauth:login:account:{email_digest}:{self.hour}"
        self._installed_locks: set[str] = set()
        self._counted = False  # check() counted this attempt

    @staticmethod
    def failures_key(key: str) -> str:
        return key + ":failures"

    @staticmethod
    def lock_key(key: str) -> str:
        return key + ":lock"

    def _counter_timeout(self) -> int:
        # A counter must outlive the longest lock, or a lock would outlive its count.
        window = app_settings.LOGIN_FAILURE_WINDOW.total_seconds()
        return int(max(window, app_settings.LOGIN_BACKOFF_MAX.total_seconds() + 60))

    def check(self) -> None:
        """Count this attempt and let it through, or raise RateLimited.

        Refused: the email's hourly failures reached ACCOUNT_FAILURES_PER_HOUR,
        or a key is locked (the refused attempt then stays counted on the locked
        keys, doubling their lock, and is withdrawn from the others)."""
        _guard(self._check, None)

    def _check(self) -> None:
        cache = _cache()
        ceiling = cache.get(self.ceiling_key) or 0
        if ceiling >= app_settings.ACCOUNT_FAILURES_PER_HOUR:
            raise RateLimited(retry_after=(self.hour + 1) * 3600 - int(time.time()))
        timeout = self._counter_timeout()
        counts: dict[str, int] = {}
        refused: dict[str, int] = {}
        for key in self.keys:
            failures = _incr(cache, self.failures_key(key), timeout)
            counts[key] = failures
            self._counted = True
            lock = backoff_seconds(failures)
            if not lock:
                continue
            # Atomic: of all attempts arriving at a locked-to-be key, one installs
            # the lock and goes through; the rest find it and are refused.
            if cache.add(self.lock_key(key), failures, lock):
                self._installed_locks.add(key)
            else:
                refused[key] = lock
        if not refused:
            return
        for key, lock in refused.items():
            cache.set(self.lock_key(key), counts[key], lock)
        for key in self.keys:
            if key not in refused:
                self._withdraw(cache, key)
        raise RateLimited(retry_after=max(refused.values()))

    def _withdraw(self, cache, key: str) -> None:
        """Undo this attempt's count on ``key`` and any lock it installed there."""
        _decr(cache, self.failures_key(key))
        if key in self._installed_locks:
            cache.delete(self.lock_key(key))
            self._installed_locks.discard(key)

    def record_failure(self) -> None:
        """The password was wrong: the attempt stays counted, and counts toward the
        account's hourly ceiling (which holds across any number of IPs)."""

        def count() -> None:
            _incr(_cache(), self.ceiling_key, 3600 + 60)

        _guard(count, None)

    def record_success(self) -> None:
        """The password was right: clear the email's counter and lock; withdraw the
        attempt ``check()`` counted from the IP's counter (whose earlier failures stay).

        Also usable without ``check()`` to lift an email's lock (after a password reset)."""

        def clear() -> None:
            cache = _cache()
            cache.delete_many([self.failures_key(self.email_key), self.lock_key(self.email_key)])
            if self.ip_key and self._counted:
                self._withdraw(cache, self.ip_key)

        _guard(clear, None)


def _usage_unavailable(usage: dict[str, Any]) -> bool:
    # django-ratelimit's answer when the cache returned nothing (with increment
    # on, a real count is at least 1): {"count": 0, "limit": 0, "time_left": -1}.
    return usage["count"] == 0 and usage["time_left"] == -1


def enforce_rate(request, scope: str, value: str) -> None:
    """Fixed-window limit ``RATE_LIMITS[scope]`` (e.g. "10/h") on ``value``, usually
    the client IP; counted by django-ratelimit in the rate-limit cache."""
    rate = app_settings.RATE_LIMITS.get(scope)
    if not rate:
        return
    if value and value != "unknown":
        value = ip_bucket(value)

    def count():
        usage = get_usage(
            request,
            group=f"secureauth.{scope}",
            key=lambda group, req: value,
            rate=rate,
            increment=True,
        )
        if usage is not None and _usage_unavailable(usage):
            raise CacheUnavailable("django-ratelimit could not count")
        return usage

    usage = _guard(count, None)
    if usage is not None and usage["should_limit"]:
        raise RateLimited(retry_after=max(1, usage["time_left"]))
