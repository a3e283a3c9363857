"""Mail that never slows or fails the request that caused it.

A message is handed over when the database transaction commits (nothing is sent for
work that rolled back) and delivered by a background thread
(``SEND_MAIL_IN_BACKGROUND``, on by default). Inside a request the background thread
gets it only once the response is finished (Django's ``request_finished``, connected
in ``receivers``), so that no mail work overlaps the answer: an endpoint that mails
some callers and not others answers all of them in the same time. A rendering or
delivery error is logged, never raised.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from django.core.mail import EmailMessage
from django.db import connections, transaction
from django.template.loader import render_to_string

from .adapter import get_adapter
from .conf import app_settings

logger = logging.getLogger("secureauth")

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def render_message(template_prefix: str, to: str, context: dict) -> EmailMessage:
    """``secureauth/email/<prefix>_subject.txt`` and ``_body.txt`` as one message."""
    subject = render_to_string(f"secureauth/email/{template_prefix}_subject.txt", context)
    body = render_to_string(f"secureauth/email/{template_prefix}_body.txt", context)
    return EmailMessage(subject=" ".join(subject.split()), body=body, to=[to])


def send_template_after_commit(
    template_prefix: str, to: str, context: dict, *, deliver: bool = True
) -> None:
    """Mail ``secureauth/email/<prefix>_*.txt`` to ``to`` once the current transaction
    commits (nothing for work that rolled back). Rendering and delivery (the adapter's
    ``send_mail``) run in the background thread when SEND_MAIL_IN_BACKGROUND is on, so
    the request does the same work whether or not a mail goes out; a template or a
    backend that fails is logged and fails neither the request nor its transaction.

    ``deliver=False`` is the stand-in for a message that must not go out (to an address
    no account has): it is rendered and encoded as a backend would, then dropped, so
    that not even the background work tells the two cases apart."""
    job = partial(_render_and_send if deliver else _render_only, template_prefix, to, context)
    if app_settings.SEND_MAIL_IN_BACKGROUND:
        transaction.on_commit(partial(_in_background, job), robust=True)
    else:
        transaction.on_commit(job, robust=True)


def _render_and_send(template_prefix: str, to: str, context: dict) -> None:
    try:
        message = render_message(template_prefix, to, context)
    except Exception:  # a broken template must not turn a committed change into a 500
        logger.exception("secureauth could not render mail %r", template_prefix)
        return
    try:
        get_adapter().send_mail(message)
    except Exception:  # any mail backend error: SMTP down, refused recipient, ...
        logger.exception("secureauth could not send mail %r", message.subject)


def _render_only(template_prefix: str, to: str, context: dict) -> None:
    try:
        render_message(template_prefix, to, context).message()
    except Exception:
        logger.exception("secureauth could not render mail %r", template_prefix)


#: Jobs of the request this thread is serving, handed over when its response is done
#: (``jobs`` is None outside a request: a job is then handed over at once).
_request_jobs = threading.local()


def _in_background(job) -> None:
    jobs = getattr(_request_jobs, "jobs", None)
    if jobs is None:
        _pool().submit(_run_in_background, job)
    else:
        jobs.append(job)


def hold_until_response(**kwargs) -> None:
    """``request_started``: the mail of this request waits for its response (any left
    behind by a request of this thread that never finished goes out now)."""
    release_after_response()
    _request_jobs.jobs = []


def release_after_response(**kwargs) -> None:
    """``request_finished``: the response is sent; hand this request's mail over."""
    jobs = getattr(_request_jobs, "jobs", None)
    _request_jobs.jobs = None
    for job in jobs or ():
        _pool().submit(_run_in_background, job)


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="secureauth-mail")
        return _executor


def _run_in_background(job) -> None:
    try:
        job()
    finally:
        # A mail backend that stores messages in the database (django-mailer,
        # django-post-office) opened a connection in this thread; nothing else closes it.
        connections.close_all()


def wait_for_background_mail(timeout: float = 10) -> None:
    """Block until every message handed to the background thread is delivered."""
    if _executor is not None:
        _executor.submit(lambda: None).result(timeout=timeout)
