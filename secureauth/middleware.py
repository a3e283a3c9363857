"""Middleware for host projects.

``DatabaseUnavailableMiddleware`` answers a database outage on any view of the project
(the admin, plain Django views, third-party apps) as SecureAuth's own views do: a JSON
``503 {"detail", "code": "service_unavailable"}`` with ``Retry-After``, never an HTML
500 page. Add it to ``MIDDLEWARE`` (anywhere: it only handles exceptions views raise)::

    MIDDLEWARE = [..., "secureauth.middleware.DatabaseUnavailableMiddleware"]

Django reconnects by itself once the database is back (``CONN_HEALTH_CHECKS`` with
persistent connections), so the service recovers without a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from .exceptions import ServiceUnavailable

logger = logging.getLogger("secureauth")


def is_database_outage(error: BaseException | None) -> bool:
    """The database cannot be reached or the connection broke (not a bad query)."""
    return isinstance(error, (OperationalError, InterfaceError))


def database_unavailable_response() -> JsonResponse:
    """The contract's outage answer, with ``Retry-After``; never cached."""
    unavailable = ServiceUnavailable()
    response = JsonResponse({"detail": unavailable.detail, "code": unavailable.code}, status=503)
    response["Retry-After"] = str(unavailable.retry_after)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """A database outage raised by any view becomes a JSON 503 (see the module's docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_database_outage(exception):
            return None
        # The driver's message names hosts and ports: the log has it, the client not.
        logger.error("database unavailable on %s %s: %s", request.method, request.path, exception)
        return database_unavailable_response()
