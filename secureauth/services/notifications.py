"""Security notifications: the account's owner hears of every change to how it signs in.

Mailed (after commit, outside the request: ``secureauth.mail``) when a sign-in comes
from a new device, the password is changed or reset, a second factor is enabled or
disabled, recovery codes are regenerated, a passkey is added or removed, or a social
identity is linked or unlinked. ``audit.record_event`` calls ``notify`` for every event,
so each of these mails exactly when its audit event is written.

A new-device mail holds a single-use link (``SESSION_REPORT_LINK_LIFETIME``, 24 h):
its token, posted to ``sessions/report/``, revokes that session ("this wasn't me").
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.core import signing

from ..conf import app_settings
from ..constants import Event
from ..mail import send_template_after_commit

if TYPE_CHECKING:
    from ..models import AuditEvent, Session
    from ..types import UserType

REPORT_SALT = "secureauth.session-report"

#: The events the owner is told of, and the subject line of each mail.
NOTICES: dict[str, str] = {
    Event.NEW_DEVICE_SIGN_IN: "New sign-in to your account",
    Event.PASSWORD_CHANGED: "Your password was changed",
    Event.PASSWORD_RESET_COMPLETED: "Your password was reset",
    Event.MFA_ENABLED: "Two-factor authentication was turned on",
    Event.MFA_DISABLED: "Two-factor authentication was turned off",
    Event.RECOVERY_CODES_REGENERATED: "New recovery codes were created",
    Event.PASSKEY_ADDED: "A passkey was added to your account",
    Event.PASSKEY_REMOVED: "A passkey was removed from your account",
    Event.SOCIAL_LINKED: "A sign-in provider was linked to your account",
    Event.SOCIAL_UNLINKED: "A sign-in provider was unlinked from your account",
}


def report_token(session: Session) -> str:
    """The token of a session's "this wasn't me" link (signed, time-limited)."""
    return signing.dumps(str(session.pk), salt=REPORT_SALT, compress=False)


def session_id_from_report_token(token: str) -> str | None:
    """The session a report token names, or None when it is forged or expired."""
    max_age = app_settings.SESSION_REPORT_LINK_LIFETIME.total_seconds()
    try:
        value = signing.loads(token, salt=REPORT_SALT, max_age=max_age)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    return value if isinstance(value, str) else None


def lifetime_text(lifetime: timedelta) -> str:
    """A link's lifetime as the mail states it: "24 hours", "1 hour", "30 minutes"."""
    minutes = max(1, int(lifetime.total_seconds() // 60))
    if minutes % 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = minutes // 60
    return f"{hours} hour{'s' if hours != 1 else ''}"


def notify(entry: AuditEvent, user: UserType | None, session: Session | None, email: str) -> None:
    """Mail the owner about audit event ``entry`` if it is one they must hear of."""
    subject = NOTICES.get(entry.event)
    if subject is None or user is None or not email:
        return
    context = {
        "user": user,
        "subject": subject,
        "event": entry.event,
        "time": entry.created_at,
        "ip": entry.ip or "unknown",
        "session": session,
        "report_link": "",
        "report_link_lifetime": lifetime_text(app_settings.SESSION_REPORT_LINK_LIFETIME),
    }
    if entry.event == Event.NEW_DEVICE_SIGN_IN and session is not None:
        context["report_link"] = app_settings.SESSION_REPORT_URL.format(
            frontend=app_settings.FRONTEND_URL.rstrip("/"), token=report_token(session)
        )
    send_template_after_commit("security_notice", email, context)
