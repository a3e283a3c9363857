"""Session state in a shared cache: an authenticated request that costs no query.

On by default when the cache SecureAuth uses is shared between processes (Redis,
Memcached), never for a per-process cache (a local-memory cache must not decide
"still active"); ``SESSION_CACHE`` turns it on or off explicitly.

One entry per session holds what a request needs: whether the session is revoked,
when it ends, the user's row (without its password hash) and its ``SecurityState``.
Entries are stamped with their user's *generation*, a random value kept under its own
key. Every change to a user or to one of their sessions (revocation, roles, a
deactivation, a second factor, a verified address...) sets a new generation after
its transaction commits, before the response, so every entry of that user stops
matching at once, in every process; the next request reads the database and fills
the cache again. A reader takes the generation *before* it reads the database, so
an entry filled from a read that raced a change never matches the generation the
change left behind.

The cache answers "yes, active" only with a matching entry. A miss, a stale
generation, an expired entry or a cache that cannot be reached all fall back to the
database, never to "allow". A change whose new generation cannot be written raises
``SessionCacheUnavailable`` (503): the change itself is committed, and the caller
learns that other processes may not see it until the entries expire
(``SESSION_CACHE_TTL``).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.db import DEFAULT_DB_ALIAS, router, transaction

from . import cache_guard
from .conf import app_settings
from .exceptions import ServiceUnavailable
from .models.users import SecurityState, set_security_state

if TYPE_CHECKING:
    from django.core.cache.backends.base import BaseCache

    from .types import UserType

logger = logging.getLogger("secureauth.session_cache")

#: Cache backends shared between processes (the ones that can decide "still active").
SHARED_BACKENDS = frozenset(
    {
        "django.core.cache.backends.redis.RedisCache",
        "django_redis.cache.RedisCache",
        "django.core.cache.backends.memcached.PyMemcacheCache",
        "django.core.cache.backends.memcached.PyLibMCCache",
    }
)


class SessionCacheUnavailable(ServiceUnavailable):
    default_detail = "A change could not be published to the session cache; try again."


def _backend_path(alias: str) -> str:
    from django.conf import settings

    return str(settings.CACHES.get(alias, {}).get("BACKEND", ""))


def enabled() -> bool:
    """``SESSION_CACHE``: True/False, or None (default): on for a shared cache backend."""
    choice = app_settings.SESSION_CACHE
    if choice is not None:
        return bool(choice)
    return _backend_path(app_settings.SESSION_CACHE_ALIAS) in SHARED_BACKENDS


def _cache() -> BaseCache:
    return caches[app_settings.SESSION_CACHE_ALIAS]


def _guarded():
    """The session cache's calls behind the per-process breaker (``cache_guard``): with a
    hung cache a request waits at most one socket timeout, the next ones none; any
    failure raises ``cache_guard.CacheDown``."""
    return cache_guard.guarded(app_settings.SESSION_CACHE_ALIAS)


def _user_fields() -> tuple[str, ...]:
    """The user columns an entry carries: every concrete field but the password hash."""

    def build() -> tuple[str, ...]:
        model = get_user_model()
        return tuple(f.attname for f in model._meta.concrete_fields if f.name != "password")

    return app_settings.memo("session_cache_user_fields", build)


def _layout() -> str:
    """A short fingerprint of the entry layout: entries written for another user model
    (or another version of this module) are never read back as this one."""

    def build() -> str:
        model = get_user_model()
        raw = "|".join((model._meta.label_lower, *_user_fields(), "v1"))
        return hashlib.sha256(raw.encode()).hexdigest()[:8]

    return app_settings.memo("session_cache_layout", build)


def session_key(session_id: str) -> str:
    return f"secureauth:ss:{_layout()}:{session_id}"


def generation_key(user_id: Any) -> str:
    return f"secureauth:ug:{user_id}"


@dataclass(frozen=True)
class Lookup:
    """What the cache said about a session: a user ready to use (``user``), or the
    generation a fill after a database read must carry (``generation``)."""

    user: UserType | None
    revoked: bool
    expires_at: datetime | None
    generation: str | None


MISS = Lookup(None, False, None, None)


def lookup(session_id: str, user_id: str) -> Lookup:
    """One round trip: the session's entry and its user's generation. Any cache error
    is a miss (the caller reads the database)."""
    cache = _cache()
    skey, gkey = session_key(session_id), generation_key(user_id)
    try:
        with _guarded():
            found = cache.get_many([skey, gkey])
    except cache_guard.CacheDown as down:  # ask the database
        _log_outage("read", down)
        return MISS
    generation = found.get(gkey)
    entry = found.get(skey)
    if generation is None:
        return MISS
    if not isinstance(entry, tuple) or len(entry) != 6 or entry[0] != generation:
        return Lookup(None, False, None, generation)
    _gen, uid, revoked, expires_ts, values, state = entry
    if str(uid) != str(user_id):
        return Lookup(None, False, None, generation)
    expires_at = datetime.fromtimestamp(expires_ts, tz=UTC)
    if revoked:
        return Lookup(None, True, expires_at, generation)
    user = _rebuild_user(values)
    roles, mfa_enabled, email_verified, epoch = state
    set_security_state(user, SecurityState(tuple(roles), mfa_enabled, email_verified, epoch))
    return Lookup(user, False, expires_at, generation)


def _rebuild_user(values: tuple[Any, ...]) -> UserType:
    model = get_user_model()
    db = router.db_for_read(model) or DEFAULT_DB_ALIAS
    # from_db leaves the fields not given (the password hash) deferred: read on access.
    return model.from_db(db, list(_user_fields()), list(values))


def take_generation(user_id: Any, seen: str | None) -> str | None:
    """The generation a fill must carry, read before the database is: ``seen`` if the
    lookup found one, else a new one (added only if absent). None if the cache fails."""
    if seen is not None:
        return seen
    cache, key = _cache(), generation_key(user_id)
    fresh = secrets.token_hex(8)
    try:
        with _guarded():
            if cache.add(key, fresh, _generation_ttl()):
                return fresh
            current = cache.get(key)
    except cache_guard.CacheDown as down:
        _log_outage("read", down)
        return None
    return current if isinstance(current, str) else None


def fill(
    generation: str | None,
    session_id: str,
    user: UserType,
    *,
    revoked: bool,
    expires_at: datetime,
    state: SecurityState,
    now: datetime,
) -> None:
    """Store what the database said about a session, stamped with ``generation``."""
    if generation is None:
        return
    ttl = int(
        min(app_settings.SESSION_CACHE_TTL.total_seconds(), (expires_at - now).total_seconds())
    )
    if ttl <= 0:
        return
    values = tuple(getattr(user, name) for name in _user_fields())
    entry = (
        generation,
        str(user.pk),
        revoked,
        expires_at.timestamp(),
        values,
        (state.roles, state.mfa_enabled, state.email_verified, state.credential_epoch),
    )
    try:
        with _guarded():
            _cache().set(session_key(session_id), entry, ttl)
    except cache_guard.CacheDown as down:  # a failed fill only costs a later query
        _log_outage("fill", down)


def _log_outage(what: str, down: cache_guard.CacheDown) -> None:
    if down.__cause__ is not None:  # this call found the outage: log it once
        cause = down.__cause__
        logger.warning(
            "session cache unavailable on %s (requests read the database): %s: %s",
            what,
            type(cause).__name__,
            cause,
        )


def _generation_ttl() -> int:
    # Longer than any entry, so an entry never outlives the generation it was stamped with.
    return int(app_settings.SESSION_CACHE_TTL.total_seconds()) * 2 + 60


def publish(user_ids: Iterable[Any]) -> None:
    """New generations for ``user_ids``: their cached sessions stop matching."""
    ids = {str(uid) for uid in user_ids if uid is not None}
    if not ids:
        return
    ttl = _generation_ttl()
    values = {generation_key(uid): secrets.token_hex(8) for uid in ids}
    try:
        with _guarded():
            failed = _cache().set_many(values, ttl)
            if failed:  # one retry of what the backend says it did not store
                failed = _cache().set_many({key: values[key] for key in failed}, ttl)
        if not failed:
            return
        retry_after = None
    except cache_guard.CacheDown as down:
        retry_after = down.retry_after
    logger.error("session cache: could not publish a change for users %s", sorted(ids))
    raise SessionCacheUnavailable(retry_after=retry_after)


def user_changed(*user_ids: Any, quiet: bool = False) -> None:
    """Call where a user's state or sessions change: after the transaction commits
    (at once outside one), the user's cached sessions stop matching. ``quiet`` (signal
    receivers for admin edits and host code) logs a cache outage instead of raising it
    into code that does not expect it."""
    if not enabled():
        return
    ids = [uid for uid in user_ids if uid is not None]
    if not ids:
        return

    def run() -> None:
        try:
            publish(ids)
        except SessionCacheUnavailable:
            if not quiet:
                raise

    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(run)
    else:
        run()
