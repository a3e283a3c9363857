"""The audit log of security events."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from .prepared import PreparedInsert

if TYPE_CHECKING:
    from ..types import UserType


_INSERT: PreparedInsert[AuditEvent] = PreparedInsert(lambda: AuditEvent)


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def record(self, **fields: Any) -> AuditEvent:
        """``create(**fields)`` of one event, its INSERT compiled once (every sign-in
        writes one)."""
        return _INSERT.create(**fields)

    def for_user(self, user: UserType) -> AuditEventQuerySet:
        return self.filter(user=user).order_by("-created_at", "-pk")

    def older_than(self, before: datetime) -> AuditEventQuerySet:
        return self.filter(created_at__lt=before)


class AuditEvent(models.Model):
    event = models.CharField(max_length=64)
    # No index of its own: ``secureauth_audit_user`` (user, -created_at) serves it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="secureauth_audit_events",
        db_index=False,
    )
    # The session the event happened in, kept as a plain value: the event outlives the
    # session (purging sessions never rewrites audit rows), so ``session_id`` is the
    # record and ``session`` may be gone. No constraint, no index (nothing looks
    # events up by session).
    session = models.ForeignKey(
        "secureauth.Session",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="audit_events",
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    detail = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        # Not on the field: an indexed CharField gets a second, ``varchar_pattern_ops``
        # index on PostgreSQL that no exact lookup uses.
        indexes = [
            models.Index(fields=["user", "-created_at"], name="secureauth_audit_user"),
            models.Index(fields=["event"], name="secureauth_audit_event"),
        ]

    def __str__(self) -> str:
        return f"{self.event} at {self.created_at:%Y-%m-%d %H:%M:%S}"
