"""Signals host projects can connect to.

Each is sent after the fact it names has been committed to the database.
"""

from django.dispatch import Signal

#: sender=Session class; kwargs: session, reason
session_revoked = Signal()
#: sender=Session class; kwargs: session, token
refresh_token_reused = Signal()
#: sender=None; kwargs: email, user (or None), ip
login_failed = Signal()
#: sender=None; kwargs: user, session
login_succeeded = Signal()
#: sender=None; kwargs: key, retry_after
login_rate_limited = Signal()
#: sender=None; kwargs: user, roles
roles_changed = Signal()
#: sender=AuditEvent class; kwargs: event (the saved AuditEvent)
audit_event = Signal()
