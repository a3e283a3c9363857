"""Mail that never slows or fails the request that caused it.

A message is handed over when the database transaction commits (nothing is sent for
work that rolled back) and delivered by a background thread
(``SEND_MAIL_IN_BACKGROUND``, on by default). A rendering or delivery error is
logged, never raised.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from django.core.mail import EmailMessage
from django.db import connections, transaction
from django.template.loader import render_to_string

from .conf import app_settings

logger = logging.getLogger("secureauth")

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def render_message(template_prefix: str, to: str, context: dict) -> EmailMessage:
    """``secureauth/email/<prefix>_subject.txt`` and ``_body.txt`` as one message."""
    subject = render_to_string(f"secureauth/email/{template_prefix}_subject.txt", context)
    body = render_to_string(f"secureauth/email/{template_prefix}_body.txt", context)
    return EmailMessage(subject=" ".join(subject.split()), body=body, to=[to])


def send_after_commit(message: EmailMessage) -> None:
    """Send ``message`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(partial(_hand_over, message), robust=True)


def send_template_after_commit(template_prefix: str, to: str, context: dict) -> None:
    """Render ``secureauth/email/<prefix>_*.txt`` and send it once the current
    transaction commits: a template that fails to render (a host project's override,
    say) is logged and fails neither the request nor its transaction."""
    transaction.on_commit(partial(_render_and_hand_over, template_prefix, to, context), robust=True)


def _render_and_hand_over(template_prefix: str, to: str, context: dict) -> None:
    try:
        message = render_message(template_prefix, to, context)
    except Exception:  # a broken template must not turn a committed change into a 500
        logger.exception("secureauth could not render mail %r", template_prefix)
        return
    _hand_over(message)


def _hand_over(message: EmailMessage) -> None:
    if app_settings.SEND_MAIL_IN_BACKGROUND:
        _pool().submit(_deliver_in_background, message)
    else:
        _deliver(message)


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="secureauth-mail")
        return _executor


def _deliver(message: EmailMessage) -> None:
    try:
        message.send()
    except Exception:  # any mail backend error: SMTP down, refused recipient, ...
        logger.exception("secureauth could not send mail %r", message.subject)


def _deliver_in_background(message: EmailMessage) -> None:
    try:
        _deliver(message)
    finally:
        # A mail backend that stores messages in the database (django-mailer,
        # django-post-office) opened a connection in this thread; nothing else closes it.
        connections.close_all()


def wait_for_background_mail(timeout: float = 10) -> None:
    """Block until every message handed to the background thread is delivered."""
    if _executor is not None:
        _executor.submit(lambda: None).result(timeout=timeout)
