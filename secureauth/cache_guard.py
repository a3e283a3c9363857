"""A per-process circuit breaker in front of a Django cache.

A cache that hangs (a stopped or overloaded Redis) costs every call its socket
timeout. After one failed call this process treats that cache alias as down for
``CACHE_DOWN_SECONDS`` and does not call it at all meanwhile, so a request pays at
most one bounded wait and the requests after it none. What "down" means is the
caller's decision: the login limiter fails closed (503, fast) unless
``RATE_LIMIT_FAIL_OPEN``; it never means "allow" by itself.

The state is per process and only ever says "down for a few more seconds": nothing
about what the cache holds is remembered, so every process sees revocations and
counters as soon as the cache answers again.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.signals import setting_changed

from .conf import app_settings


class CacheDown(Exception):
    """The cache failed just now, or did so less than CACHE_DOWN_SECONDS ago."""

    def __init__(self, alias: str, retry_after: float) -> None:
        self.alias = alias
        #: whole seconds until this process tries the cache again (at least 1)
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"cache {alias!r} is unavailable")


_down_until: dict[str, float] = {}
_lock = threading.Lock()


def ensure_up(alias: str) -> None:
    """Raise CacheDown if ``alias`` failed less than CACHE_DOWN_SECONDS ago."""
    until = _down_until.get(alias)
    if until is None:
        return
    left = until - time.monotonic()
    if left > 0:
        raise CacheDown(alias, left)
    with _lock:
        if _down_until.get(alias) == until:
            del _down_until[alias]


def trip(alias: str, error: BaseException) -> CacheDown:
    """Record that a call to ``alias`` failed (``error``): it is down for
    CACHE_DOWN_SECONDS. The caller logs the error (once per outage and process)."""
    seconds = app_settings.CACHE_DOWN_SECONDS
    with _lock:
        _down_until[alias] = time.monotonic() + seconds
    return CacheDown(alias, seconds)


def is_down(alias: str) -> bool:
    try:
        ensure_up(alias)
    except CacheDown:
        return True
    return False


@contextmanager
def guarded(alias: str, *, passthrough: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Run the block's calls to the cache ``alias``, or raise CacheDown: at once if it is
    known to be down, else when the block fails (tripping the breaker). Exceptions in
    ``passthrough`` are the caller's own answers (e.g. RateLimited) and pass unchanged."""
    ensure_up(alias)
    try:
        yield
    except passthrough:
        raise
    except CacheDown:
        raise
    except Exception as error:  # any backend error: refused, timeout, protocol, ...
        raise trip(alias, error) from error


def reset() -> None:
    """Forget every outage (tests; a process that knows the cache is back)."""
    with _lock:
        _down_until.clear()


def _forget_on_new_caches(*, setting: str, **kwargs: object) -> None:
    if setting == "CACHES":  # other servers: what was down says nothing about them
        reset()


setting_changed.connect(_forget_on_new_caches)
