"""Mail that never slows or fails the request that caused it.

A message is rendered in the request, handed over when the database transaction
commits (nothing is sent for work that rolled back), and delivered by a background
thread (``SEND_MAIL_IN_BACKGROUND``, on by default). A delivery error is logged,
never raised.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from django.core.mail import EmailMessage
from django.db import transaction
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


def _hand_over(message: EmailMessage) -> None:
    if app_settings.SEND_MAIL_IN_BACKGROUND:
        _pool().submit(_deliver, message)
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


def wait_for_background_mail(timeout: float = 10) -> None:
    """Block until every message handed to the background thread is delivered."""
    if _executor is not None:
        _executor.submit(lambda: None).result(timeout=timeout)
