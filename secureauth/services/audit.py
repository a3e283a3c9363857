"""Writing the audit log: one row per security event, mirrored to the ``secureauth`` logger."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder

from ..client import ClientInfo
from ..models import AuditEvent, Session
from ..signals import audit_event, send_after_commit
from .notifications import notify

if TYPE_CHECKING:
    from ..models.audit import AuditEventQuerySet
    from ..types import UserType

logger = logging.getLogger("secureauth")


def record_event(
    event: str,
    *,
    user: UserType | None = None,
    session: Session | None = None,
    client: ClientInfo | None = None,
    **detail: Any,
) -> AuditEvent:
    """The one way to record a security event: the audit row is written in the caller's
    transaction; the ``audit_event`` signal and any notice to the owner go out once it
    commits. Also emitted as a structured log line."""
    client = client or ClientInfo()
    entry = AuditEvent.objects.record(
        event=str(event),
        user=user,
        session=session,
        ip=client.ip,
        user_agent=client.user_agent[:512],
        detail=detail,
    )
    if logger.isEnabledFor(logging.INFO):  # the JSON line is built only when someone logs it
        _log(entry, user, session, client, detail)
    send_after_commit(audit_event, sender=AuditEvent, event=entry)
    if user is not None:
        notify(entry, user, session, getattr(user, user.get_email_field_name(), "") or "")
    return entry


def _log(
    entry: AuditEvent,
    user: UserType | None,
    session: Session | None,
    client: ClientInfo,
    detail: dict[str, Any],
) -> None:
    logger.info(
        json.dumps(
            {
                "event": entry.event,
                "user": str(user.pk) if user is not None else None,
                "session": str(session.pk) if session is not None else None,
                "ip": client.ip,
                "user_agent": entry.user_agent,
                "time": entry.created_at,
                "detail": detail,
            },
            cls=DjangoJSONEncoder,
            sort_keys=True,
        ),
        extra={"secureauth_event": entry.event},
    )


def events_of(user: UserType) -> AuditEventQuerySet:
    """The user's own events, newest first."""
    return AuditEvent.objects.for_user(user)
