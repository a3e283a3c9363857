"""Rate limiting: login backoff per IP and per email, and fixed-window limits.

Counters live in the Django cache named by django-ratelimit's
``RATELIMIT_USE_CACHE`` (default ``"default"``), so with Redis every process
sees the same counters. When that cache cannot be reached, limits fail closed
(``ServiceUnavailable``) unless ``RATE_LIMIT_FAIL_OPEN`` is on.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import caches
from django_ratelimit.core import get_usage

from .conf import app_settings
from .exceptions import RateLimited, ServiceUnavailable

logger = logging.getLogger("secureauth")
T = TypeVar("T")


def _cache():
    return caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]


def _guard(operation: Callable[[], T], fallback: T) -> T:
    """Run a cache operation; on a cache outage fail closed (or open, if configured)."""
    try:
        return operation()
    except Exception as exc:  # any backend error: connection refused, timeout, ...
        logger.error("secureauth rate-limit cache unavailable: %s", exc)
        if app_settings.RATE_LIMIT_FAIL_OPEN:
            return fallback
        raise ServiceUnavailable("Rate limiting is unavailable; try again shortly.")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def backoff_seconds(failures: int) -> int:
    """Lock length after ``failures`` failures: BASE doubled per failure past the
    allowance, capped at LOGIN_BACKOFF_MAX."""
    allowed = app_settings.LOGIN_FAILURES_ALLOWED
    base = app_settings.LOGIN_BACKOFF_BASE.total_seconds()
    cap = app_settings.LOGIN_BACKOFF_MAX.total_seconds()
    exponent = min(failures - allowed, 32)
    return int(min(cap, base * (2**exponent)))


class LoginLimiter:
    """Failed-login counters for one attempt's keys: the client IP and the email.

    Past LOGIN_FAILURES_ALLOWED failures a key is locked with exponential
    backoff; an attempt on a locked key is refused and counts as one more
    failure. Each email also has an hourly ceiling (ACCOUNT_FAILURES_PER_HOUR)
    that a success does not reset.
    """

    def __init__(self, ip: str | None, email: str) -> None:
        self.keys = [f"secureauth:login:email:{_digest(email.strip().lower())}"]
        if ip:
            self.keys.append(f"secureauth:login:ip:{_digest(ip)}")
        self.email_key = self.keys[0]
        self.ceiling_key = f"{self.email_key}:hour:{int(time.time() // 3600)}"

    def check(self) -> None:
        """Raise RateLimited if any key is locked (and count the refused attempt)."""

        def read():
            return _cache().get_many([*(k + ":lock" for k in self.keys), self.ceiling_key])

        state = _guard(read, {})
        now = time.time()
        ceiling = state.get(self.ceiling_key) or 0
        if ceiling >= app_settings.ACCOUNT_FAILURES_PER_HOUR:
            raise RateLimited(retry_after=3600 - int(now % 3600))
        if any((state.get(k + ":lock") or 0) > now for k in self.keys):
            retry_after = self.record_failure()
            raise RateLimited(retry_after=retry_after)

    def record_failure(self) -> int:
        """Count a failure on every key; returns the longest resulting lock (0 if none)."""

        def count() -> int:
            cache = _cache()
            window = int(app_settings.LOGIN_FAILURE_WINDOW.total_seconds())
            longest = 0
            for key in self.keys:
                failures = _incr(cache, key + ":failures", window)
                if failures >= app_settings.LOGIN_FAILURES_ALLOWED:
                    lock = backoff_seconds(failures)
                    cache.set(key + ":lock", time.time() + lock, lock)
                    longest = max(longest, lock)
            _incr(cache, self.ceiling_key, 3600)
            return longest

        return _guard(count, 0)

    def record_success(self) -> None:
        """A correct login clears the email's counter (never the IP's)."""
        _guard(
            lambda: _cache().delete_many([self.email_key + ":failures", self.email_key + ":lock"]),
            None,
        )


def _incr(cache, key: str, timeout: int) -> int:
    if cache.add(key, 1, timeout):
        return 1
    try:
        value = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout)
        return 1
    cache.touch(key, timeout)
    return value


def enforce_rate(request, scope: str, value: str) -> None:
    """Fixed-window limit ``RATE_LIMITS[scope]`` on ``value`` (django-ratelimit)."""
    rate = app_settings.RATE_LIMITS.get(scope)
    if not rate:
        return
    usage = _guard(
        lambda: get_usage(
            request,
            group=f"secureauth.{scope}",
            key=lambda group, req: value,
            rate=rate,
            increment=True,
        ),
        None,
    )
    if usage is None:
        return
    if usage["should_limit"]:
        if usage["limit"] == 0 and not app_settings.RATE_LIMIT_FAIL_OPEN:
            raise ServiceUnavailable("Rate limiting is unavailable; try again shortly.")
        raise RateLimited(retry_after=max(1, usage["time_left"]))
