"""A Session is one sign-in on one device: a token family."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from .. import session_cache
from ..conf import app_settings
from ..constants import DeviceType, RevokeReason
from .ids import pk_from_path
from .prepared import PreparedInsert, PreparedLookup
from .users import with_security_state

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    from ..types import UserType


def ended_by_time(now: datetime | None = None) -> Q:
    """Sessions past their absolute lifetime or their idle timeout."""
    now = now or timezone.now()
    return Q(expires_at__lte=now) | Q(last_used_at__lte=now - app_settings.REFRESH_TOKEN_LIFETIME)


_INSERT: PreparedInsert[Session] = PreparedInsert(lambda: Session)


class SessionQuerySet(models.QuerySet["Session"]):
    def open(self, **fields: Any) -> Session:
        """``create(**fields)`` of a sign-in's new session, its INSERT compiled once."""
        return _INSERT.create(**fields)

    def active(self, now: datetime | None = None) -> SessionQuerySet:
        """The one definition of an active session: not revoked, within its absolute
        lifetime (SESSION_MAX_AGE) and its idle timeout (REFRESH_TOKEN_LIFETIME)."""
        return self.filter(revoked_at__isnull=True).exclude(ended_by_time(now))

    def expired(self, now: datetime | None = None) -> SessionQuerySet:
        """Not revoked, but past its absolute lifetime or its idle timeout."""
        return self.filter(ended_by_time(now), revoked_at__isnull=True)

    def active_for(self, user: UserType) -> SessionQuerySet:
        return self.active().filter(user=user).order_by("-created_at")

    def revoke(self, reason: str, now: datetime | None = None) -> int:
        """Mark every still-active session in this queryset revoked; returns how many.
        With the session cache on, the owners' cached sessions stop matching on commit."""
        rows = self.filter(revoked_at__isnull=True)
        owners = set(rows.values_list("user_id", flat=True)) if session_cache.enabled() else ()
        count = rows.update(revoked_at=now or timezone.now(), revoked_reason=reason)
        session_cache.user_changed(*owners)  # after the write: at its commit
        return count

    def with_user(self, session_id: str) -> Session | None:
        """The session with its user in one query; None for an unknown or malformed id.
        (The per-request check is ``user_with_session_state``.)"""
        pk = pk_from_path(Session, session_id)
        if pk is None:
            return None
        return self.select_related("user").filter(pk=pk).first()

    def unrevoked_of(self, user: UserType) -> SessionQuerySet:
        """Every session of ``user`` not revoked yet (active, idle or expired)."""
        return self.filter(user=user, revoked_at__isnull=True)

    def record_use(self, session: Session, now: datetime, ip: str | None) -> None:
        """A refresh: the session was used now, from ``ip``."""
        self.filter(pk=session.pk).update(last_used_at=now, ip=ip)

    def bind_dpop_key(self, session: Session, jkt: str) -> bool:
        """Bind an unbound session's tokens to a DPoP key; False if it already has one."""
        return bool(self.filter(pk=session.pk, dpop_jkt="").update(dpop_jkt=jkt))

    def renew_auth_time(self, session: Session, now: datetime) -> None:
        """The user proved a credential again in this session."""
        self.filter(pk=session.pk).update(auth_time=now)

    def others_of(self, session: Session) -> SessionQuerySet:
        """The other sessions of ``session``'s user."""
        return self.filter(user_id=session.user_id).exclude(pk=session.pk)

    def device_seen_since(self, browser: Any, os: Any, device_type: Any, since: Any) -> Exists:
        """For a row with a ``user_id`` (the account a sign-in locks): whether that user
        signed in since ``since`` from this device kind (browser family, OS and type,
        as a session stores them)."""
        return Exists(
            self.filter(
                user_id=OuterRef("user_id"),
                created_at__gte=since,
                browser=browser,
                os=os,
                device_type=device_type,
            )
        )

    def report(self, session_id: str, now: datetime) -> Session | None:
        """Mark a session reported ("this wasn't me") and revoked, once: the session for
        the single caller that wins, None if unknown or already reported."""
        pk = pk_from_path(Session, session_id)
        rows = self.filter(pk=pk).exclude(revoked_reason=RevokeReason.REPORTED)
        if pk is None or not rows.update(
            revoked_at=Coalesce("revoked_at", Value(now)), revoked_reason=RevokeReason.REPORTED
        ):
            return None
        session = self.select_related("user").get(pk=pk)
        session_cache.user_changed(session.user_id)
        return session

    def purgeable(self, before: datetime) -> SessionQuerySet:
        """Sessions revoked or expired before ``before``: whose end (the earlier of
        ``revoked_at`` and ``expires_at``) is before it. Written as one expression, not
        ``revoked_at < x OR expires_at < x``: the cleanup deletes a page of keys with
        this rule, and an OR of two indexed columns invites PostgreSQL to bitmap-scan
        both whole indexes for every page instead of reading the page by primary key."""
        end = Least(Coalesce("revoked_at", "expires_at"), "expires_at")
        return self.alias(sa_end=end).filter(sa_end__lt=before)


class Session(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: ``secureauth_session_user`` (user, revoked_at) serves it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="secureauth_sessions",
        db_index=False,
    )
    device_name = models.CharField(max_length=128, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    browser = models.CharField(max_length=64, blank=True)
    os = models.CharField(max_length=64, blank=True)
    device_type = models.CharField(
        max_length=16, choices=DeviceType.choices, default=DeviceType.OTHER
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    amr = models.JSONField(default=list, help_text="RFC 8176 methods used to sign in")
    auth_time = models.DateTimeField(
        default=timezone.now, help_text="When the user last proved a credential in this session"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(help_text="Absolute end of the session")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=32, blank=True, choices=RevokeReason.choices)
    dpop_jkt = models.CharField(
        max_length=64, blank=True, default="", help_text="DPoP key the tokens are bound to"
    )

    objects = SessionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "revoked_at"], name="secureauth_session_user"),
            models.Index(fields=["expires_at"], name="secureauth_session_expires"),
            models.Index(fields=["revoked_at"], name="secureauth_session_revoked"),
        ]

    def __str__(self) -> str:
        return f"{self.device_name or self.browser or 'session'} ({self.id})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_active(self, now: datetime | None = None) -> bool:
        """``SessionQuerySet.active()`` for one loaded row."""
        now = now or timezone.now()
        return (
            self.revoked_at is None
            and self.expires_at > now
            and self.last_used_at > now - app_settings.REFRESH_TOKEN_LIFETIME
        )


class SessionStateAnnotations(TypedDict):
    """What ``user_with_session_state`` annotates the user with."""

    sa_session_id: uuid.UUID
    sa_session_revoked_at: datetime | None
    sa_session_expires_at: datetime


def _users_with_session_state() -> models.QuerySet[UserType]:
    # Filtering on the annotation (not on the relation again) keeps a single join.
    return get_user_model()._default_manager.annotate(
        sa_session_id=F("secureauth_sessions__id"),
        sa_session_revoked_at=F("secureauth_sessions__revoked_at"),
        sa_session_expires_at=F("secureauth_sessions__expires_at"),
    )


def _users_with_session_and_security_state() -> models.QuerySet[UserType]:
    return with_security_state(_users_with_session_state())


def _session_id_field() -> models.Field:
    return Session._meta.get_field("id")


# Compiled once (the per-request query): building and compiling it cost more than running it.
_SESSION_STATE: PreparedLookup[Any] = PreparedLookup(
    "users_with_session_state",
    # A slice, not first(): first() would add an ORDER BY to a one-row lookup.
    lambda value: _users_with_session_state().filter(**{"sa_session_id": value})[:1],
    lambda: [_session_id_field()],
)
_SESSION_AND_SECURITY_STATE: PreparedLookup[Any] = PreparedLookup(
    "users_with_session_and_security_state",
    lambda value: _users_with_session_and_security_state().filter(**{"sa_session_id": value})[:1],
    lambda: [_session_id_field()],
)


def user_with_session_state(
    session_id: str, *, with_security: bool = False
) -> WithAnnotations[UserType, SessionStateAnnotations] | None:
    """The user owning session ``session_id``, annotated with that session's state
    (``sa_session_revoked_at``, ``sa_session_expires_at``): the per-request check,
    one indexed query that loads the user and the session together; with
    ``with_security``, the user's ``SecurityState`` too, still one query. None if unknown."""
    lookup = _SESSION_AND_SECURITY_STATE if with_security else _SESSION_STATE
    try:
        rows = lookup.fetch(session_id)
    except (ValidationError, ValueError):
        return None
    return rows[0] if rows else None
