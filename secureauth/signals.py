"""Signals host projects can connect to.

Each is sent after the fact it names has been committed to the database.
"""

import logging

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger("secureauth")

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


def send_after_commit(signal: Signal, **kwargs) -> None:
    """Send ``signal`` once the current transaction commits (at once outside one),
    robustly: a receiver that raises is logged and never fails the request."""

    def send() -> None:
        for receiver, result in signal.send_robust(**kwargs):
            if isinstance(result, Exception):
                logger.error(
                    "secureauth signal receiver %r failed: %r", receiver, result, exc_info=result
                )

    transaction.on_commit(send, robust=True)
