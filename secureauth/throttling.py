"""Rate limiting: login backoff per IP and per email, an account ceiling, and
fixed-window limits on the other public endpoints.

Every counter lives in one Django cache (``rate_limit_cache_alias()``), so with
Redis every process sees the same counters; every key carries a timeout, so
nothing needs cleaning up. When that cache cannot be reached, limits fail
closed (``ServiceUnavailable``, HTTP 503) unless ``RATE_LIMIT_FAIL_OPEN`` is on.

Login rule (see docs/security.md): only failed password checks count, per
client IP (IPv6: per /64, and per /48 with a larger allowance) and per
submitted email, whether or not the account exists. The failure that brings a
key to its allowance locks it for ``LOGIN_BACKOFF_BASE`` seconds; each further
failure (possible once the lock has run out) doubles the lock, up to
``LOGIN_BACKOFF_MAX``. Attempts on a locked key are refused and not counted. A
correct password, or an attempt that ends in a server error, never adds to a
count, so an outage never locks anyone out. Parallel guesses cannot get past
the allowance: at most as many attempts per key as it has failures left are
checked at the same time (an atomic in-flight counter); the others are refused
with ``Retry-After: 1`` and not counted. A success clears the email's count,
never the IP's.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import caches
from django_ratelimit.core import get_usage

from . import cache_guard
from .conf import app_settings
from .emails import InvalidEmail, canonical_email
from .exceptions import RateLimited, ServiceUnavailable

logger = logging.getLogger("secureauth")
T = TypeVar("T")

#: IPv6 clients are counted per /64 (one subscriber's usual allocation), and
#: their failures per /48 too (a site's), with LOGIN_NETWORK_FAILURES_ALLOWED.
IPV6_PREFIX = 64
IPV6_NETWORK_PREFIX = 48
TOO_MANY_AT_ONCE = "Too many sign-in attempts at once. Try again in a moment."


class CacheUnavailable(Exception):
    """The rate-limit cache answered nothing usable (e.g. errors swallowed by the backend)."""


def rate_limit_cache_alias() -> str:
    """``RATE_LIMIT_CACHE``, else django-ratelimit's ``RATELIMIT_USE_CACHE``, else "default"."""
    return app_settings.RATE_LIMIT_CACHE or getattr(settings, "RATELIMIT_USE_CACHE", "default")


def _cache():
    return caches[rate_limit_cache_alias()]


def _guard(operation: Callable[[], T], fallback: T) -> T:
    """Run cache operations; on an outage fail closed (503), or open if configured.

    A cache that just failed is not called again for CACHE_DOWN_SECONDS (``cache_guard``):
    with a hung Redis a request waits at most one socket timeout, the next ones none."""
    alias = rate_limit_cache_alias()
    try:
        with cache_guard.guarded(alias, passthrough=(RateLimited, ServiceUnavailable)):
            return operation()
    except cache_guard.CacheDown as down:
        fail_open = app_settings.RATE_LIMIT_FAIL_OPEN
        cause = down.__cause__
        if cause is not None:  # this request found the outage (not a known one)
            logger.error(
                "secureauth rate-limit cache unavailable (%s; not called again for %s s): %s: %s",
                "failing open" if fail_open else "failing closed",
                app_settings.CACHE_DOWN_SECONDS,
                type(cause).__name__,
                cause,
            )
        if fail_open:
            return fallback
        raise ServiceUnavailable(
            "Rate limiting is unavailable; try again shortly.", retry_after=down.retry_after
        )


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


def backoff_seconds(failures: int, allowed: int | None = None) -> int:
    """Lock length after ``failures`` failures: LOGIN_BACKOFF_BASE at the allowance,
    doubled per failure past it, capped at LOGIN_BACKOFF_MAX (0 below the allowance)."""
    if allowed is None:
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


def _mark_in_flight(cache, key: str) -> int:
    """Add one to an in-flight mark; returns the checks now running on its key. One
    round trip while the mark exists and is busy (it outlives a check: 0 when idle);
    its timeout is renewed only when it turns busy, so a mark a dead worker left
    behind ends within IN_FLIGHT_TIMEOUT."""
    for _attempt in range(2):
        try:
            value = cache.incr(key)
        except ValueError:  # no mark yet (or it just expired)
            if cache.add(key, 1, IN_FLIGHT_TIMEOUT):
                return 1
            continue  # another check created it meanwhile: count on it
        if not isinstance(value, int):
            raise CacheUnavailable(f"counter {key!r} could not be read")
        if value == 1:
            cache.touch(key, IN_FLIGHT_TIMEOUT)
        return value
    raise CacheUnavailable(f"counter {key!r} could not be created")


def _decr(cache, key: str) -> None:
    try:
        cache.decr(key)
    except ValueError:  # already expired: nothing to undo
        pass


#: How long an in-flight mark outlives a worker that died mid-check.
IN_FLIGHT_TIMEOUT = 30


@dataclass(frozen=True)
class LimitKey:
    """One thing login failures are counted under (an email, an IP, a network)."""

    name: str  # "email", "ip" or "network": what the audit log names
    key: str
    allowed: int

    @property
    def failures(self) -> str:
        return self.key + ":failures"

    @property
    def lock(self) -> str:
        return self.key + ":lock"

    @property
    def in_flight(self) -> str:
        return self.key + ":inflight"


def login_keys(ip: str | None, email: str) -> list[LimitKey]:
    """The keys one login attempt is counted under."""
    try:
        email = canonical_email(email)
    except InvalidEmail:
        email = email.strip().casefold()
    allowed = app_settings.LOGIN_FAILURES_ALLOWED
    keys = [LimitKey("email", f"secureauth:login:email:{_digest(email)}", allowed)]
    if ip:
        keys.append(LimitKey("ip", f"secureauth:login:ip:{_digest(ip_bucket(ip))}", allowed))
        network = ipv6_network(ip)
        if network:
            keys.append(
                LimitKey(
                    "network",
                    f"secureauth:login:net:{_digest(network)}",
                    app_settings.LOGIN_NETWORK_FAILURES_ALLOWED,
                )
            )
    return keys


def ipv6_network(ip: str) -> str | None:
    """The /48 an IPv6 client belongs to (a site's usual allocation); None for IPv4."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if not isinstance(address, ipaddress.IPv6Address) or address.ipv4_mapped is not None:
        return None
    return str(ipaddress.ip_network(f"{address}/{IPV6_NETWORK_PREFIX}", strict=False))


class LoginLimiter:
    """The limits one password check is subject to: its client IP and its email.

    Use ``attempt()`` around the check; inside it, ``failed()`` when the password
    was wrong or ``succeeded()`` when it was right::

        with limiter.attempt():
            if not verify_password(user, password):
                limiter.failed()
                raise InvalidCredentials()
            limiter.succeeded()
    """

    def __init__(self, ip: str | None, email: str) -> None:
        self.keys = login_keys(ip, email)
        self.email_key = self.keys[0]
        self.hour = int(time.time() // 3600)
        self.ceiling_key = f"{self.email_key.key}:hour:{self.hour}"
        self._admitted: list[LimitKey] = []
        # Whether admission found failures or a lock of the email to clear on success
        # (None: not admitted through attempt(), so unknown).
        self._email_has_state: bool | None = None

    def _counter_timeout(self) -> int:
        # A counter must outlive the longest lock, or a lock would outlive its count.
        window = app_settings.LOGIN_FAILURE_WINDOW.total_seconds()
        return int(max(window, app_settings.LOGIN_BACKOFF_MAX.total_seconds() + 60))

    @contextmanager
    def attempt(self) -> Iterator[LoginLimiter]:
        """Admit one password check, or raise RateLimited (nothing counted): a key is
        locked, the account's hourly ceiling is reached, or as many checks as the key
        has failures left are already running (``Retry-After: 1``)."""
        try:
            _guard(self._admit, None)
            yield self
        finally:
            self._release()

    def _admit(self) -> None:
        cache = _cache()
        # One round trip reads the hourly ceiling, every lock and every count.
        lock_keys = [key.lock for key in self.keys]
        state = cache.get_many([self.ceiling_key, *lock_keys, *(k.failures for k in self.keys)])
        if (state.get(self.ceiling_key) or 0) >= app_settings.ACCOUNT_FAILURES_PER_HOUR:
            raise RateLimited(retry_after=(self.hour + 1) * 3600 - int(time.time()))
        now = time.time()
        locks = [state[name] for name in lock_keys if name in state]
        if locks:
            raise RateLimited(retry_after=math.ceil(max(locks) - now))
        failures = state
        email = self.email_key
        self._email_has_state = email.failures in state or email.lock in state
        for key in self.keys:
            running = _mark_in_flight(cache, key.in_flight)
            self._admitted.append(key)
            left = max(1, key.allowed - int(failures.get(key.failures) or 0))
            if running > left:
                self._release()
                raise RateLimited(retry_after=1, detail=TOO_MANY_AT_ONCE)

    def _release(self) -> None:
        admitted, self._admitted = self._admitted, []
        if not admitted or cache_guard.is_down(rate_limit_cache_alias()):
            return  # a cache known to be down is not waited on: the marks expire
        try:
            cache = _cache()
            for key in admitted:
                _decr(cache, key.in_flight)
        except Exception as exc:  # the marks expire by themselves (IN_FLIGHT_TIMEOUT)
            cache_guard.trip(rate_limit_cache_alias(), exc)
            logger.error("secureauth rate-limit cache unavailable on release: %s", exc)

    def failed(self) -> list[tuple[str, int]]:
        """The password was wrong: count it on every key (and toward the account's
        hourly ceiling, which holds across any number of IPs). Returns the locks this
        failure installed, as (key name, seconds)."""

        def count() -> list[tuple[str, int]]:
            cache = _cache()
            installed = []
            for key in self._admitted:
                failures = _incr(cache, key.failures, self._counter_timeout())
                lock = backoff_seconds(failures, key.allowed)
                if lock:
                    cache.set(key.lock, time.time() + lock, lock)
                    installed.append((key.name, lock))
            _incr(cache, self.ceiling_key, 3600 + 60)
            return installed

        return _guard(count, [])

    def succeeded(self) -> None:
        """The password was right: clear the email's count (the IP's stays), unless
        admission found none to clear (a failure a parallel attempt counts meanwhile
        then stays counted: the cautious side)."""
        if self._email_has_state is not False:
            self.clear_email()

    def clear_email(self) -> None:
        """Forget the email's failures and lift its lock (after a password reset, too)."""
        key = self.email_key

        def clear() -> None:
            _cache().delete_many([key.failures, key.lock])

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


def enforce_key_rate(scope: str, key: str) -> None:
    """``enforce_rate`` on a key that is not a client IP (an address, an account), for a
    service that has no request at hand: django-ratelimit needs the request only to
    compute the key and match the method, and here the key is given for every method."""
    enforce_rate(None, scope, key)
