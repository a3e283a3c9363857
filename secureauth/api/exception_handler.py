"""The one place where errors become HTTP responses in the contract's format."""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from ..exceptions import (
    RateLimited,
    ReauthenticationRequired,
    SecureAuthError,
    ServiceUnavailable,
)

logger = logging.getLogger("secureauth")

# DRF's default codes, renamed to the contract's.
DRF_CODES = {
    "authentication_failed": "token_invalid",
    "parse_error": "invalid",
    "throttled": "rate_limited",
    "not_found": "not_found",
    "permission_denied": "permission_denied",
    "not_authenticated": "not_authenticated",
}


def error_response(detail: str, code: str, status_code: int, headers=None) -> Response:
    return Response({"detail": str(detail), "code": code}, status=status_code, headers=headers)


def _from_drf(exc: exceptions.APIException) -> Response:
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        return Response(exc.detail, status=status.HTTP_400_BAD_REQUEST)
    detail = exc.detail
    if isinstance(detail, list):
        detail = detail[0] if detail else exc.default_detail
    codes = exc.get_codes()
    code = codes[0] if isinstance(codes, list) and codes else codes
    if not isinstance(code, str):
        code = exc.default_code
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    return error_response(detail, DRF_CODES.get(code, code), exc.status_code, headers)


def exception_handler(exc: Exception, context) -> Response:
    """Translate any exception raised in a SecureAuth view; never an HTML page."""
    if isinstance(exc, SecureAuthError):
        headers = {}
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, ReauthenticationRequired):
            headers["WWW-Authenticate"] = exc.www_authenticate
        elif exc.status_code == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return error_response(exc.detail, exc.code, exc.status_code, headers)
    if isinstance(exc, exceptions.APIException):
        return _from_drf(exc)
    if isinstance(exc, Http404):
        return error_response("Not found.", "not_found", 404)
    if isinstance(exc, RequestDataTooBig):
        return error_response("Request body is too large.", "request_too_large", 413)
    if isinstance(exc, SuspiciousOperation):
        return error_response("Bad request.", "invalid", 400)
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.error("secureauth database unavailable: %s", exc)
        unavailable = ServiceUnavailable()
        return error_response(unavailable.detail, unavailable.code, 503, {"Retry-After": "5"})
    if isinstance(exc, DatabaseError):
        logger.exception("secureauth database error")
        return error_response("Internal server error.", "server_error", 500)
    logger.exception("secureauth unhandled error")
    return error_response("Internal server error.", "server_error", 500)
