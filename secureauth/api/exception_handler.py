"""The one place where errors become HTTP responses in the contract's format.

SecureAuth's own views use it whatever the host's settings are; a host project gives
its own DRF views the same shape by naming it in its settings::

    REST_FRAMEWORK = {"EXCEPTION_HANDLER": "secureauth.api.exception_handler.exception_handler"}

Every error is ``{"detail": ..., "code": ...}`` (field validation errors keep DRF's
``{"<field>": [...]}`` shape), a database outage is ``503 service_unavailable`` with
``Retry-After``, anything else a ``500 server_error`` without details, never an HTML
page or a traceback.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from ..exceptions import (
    InvalidDPoPProof,
    RateLimited,
    ReauthenticationRequired,
    SecureAuthError,
    ServiceUnavailable,
)

logger = logging.getLogger("secureauth")

#: Seconds a client is asked to wait when the database is unreachable.
OUTAGE_RETRY_AFTER = ServiceUnavailable.default_retry_after

# DRF's default codes, renamed to the contract's.
DRF_CODES = {
    "authentication_failed": "token_invalid",
    "parse_error": "invalid",
    "throttled": "rate_limited",
    "not_found": "not_found",
    "permission_denied": "permission_denied",
    "not_authenticated": "not_authenticated",
}


def error_response(
    detail: object, code: str, status_code: int, headers: dict[str, str] | None = None
) -> Response:
    """``detail`` is sent as its ``str()`` (a message, a lazy translation, an ErrorDetail)."""
    return Response({"detail": str(detail), "code": code}, status=status_code, headers=headers)


def _is_field_errors(detail: object) -> bool:
    """DRF's field-error shapes: a dict, or a list of them (``many=True`` serializers)."""
    if isinstance(detail, dict):
        return True
    return isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail)


def _from_drf(exc: exceptions.APIException) -> Response:
    if isinstance(exc, exceptions.ValidationError) and _is_field_errors(exc.detail):
        return Response(exc.detail, status=status.HTTP_400_BAD_REQUEST)
    detail: object = exc.detail
    if isinstance(detail, list):
        detail = detail[0] if detail else exc.default_detail
    codes = exc.get_codes()
    code = codes[0] if isinstance(codes, list) and codes else codes
    if not isinstance(code, str):
        code = exc.default_code
    headers: dict[str, str] = {}
    # Set by APIView.handle_exception on 401s (NotAuthenticated, AuthenticationFailed).
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    nonce = getattr(exc, "dpop_nonce", None)
    if nonce:
        headers["DPoP-Nonce"] = nonce
    wait = getattr(exc, "wait", None)
    if wait is not None:
        headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return error_response(detail, DRF_CODES.get(code, code), exc.status_code, headers)


def _view_name(context: dict[str, Any] | None) -> str:
    view = (context or {}).get("view")
    return type(view).__name__ if view is not None else "unknown view"


def exception_handler(exc: Exception, context: dict[str, Any] | None) -> Response:
    """Translate any exception raised in a DRF view; never an HTML page.

    Like DRF's own handler, every error response marks an ``ATOMIC_REQUESTS``
    transaction for rollback, except SecureAuth's errors: a refused sign-in still
    records its audit event and its failure count."""
    if isinstance(exc, SecureAuthError):
        headers: dict[str, str] = {}
        if isinstance(exc, (RateLimited, ServiceUnavailable)):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, ReauthenticationRequired):
            headers["WWW-Authenticate"] = exc.www_authenticate
        elif isinstance(exc, InvalidDPoPProof) and exc.www_authenticate:
            headers["WWW-Authenticate"] = exc.www_authenticate
        elif exc.status_code == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, InvalidDPoPProof) and exc.nonce:
            headers["DPoP-Nonce"] = exc.nonce
        return error_response(exc.detail, exc.code, exc.status_code, headers)
    set_rollback()
    if isinstance(exc, exceptions.APIException):
        return _from_drf(exc)
    if isinstance(exc, Http404):
        return error_response("Not found.", "not_found", 404)
    if isinstance(exc, DjangoPermissionDenied):
        return error_response(exceptions.PermissionDenied.default_detail, "permission_denied", 403)
    if isinstance(exc, RequestDataTooBig):
        return error_response("Request body is too large.", "request_too_large", 413)
    if isinstance(exc, SuspiciousOperation):
        return error_response("Bad request.", "invalid", 400)
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.error("database unavailable in %s: %s", _view_name(context), exc)
        unavailable = ServiceUnavailable()
        return error_response(
            unavailable.detail,
            unavailable.code,
            503,
            {"Retry-After": str(OUTAGE_RETRY_AFTER)},
        )
    if isinstance(exc, DatabaseError):
        logger.error("database error in %s", _view_name(context), exc_info=exc)
        return error_response("Internal server error.", "server_error", 500)
    logger.error("unhandled error in %s", _view_name(context), exc_info=exc)
    return error_response("Internal server error.", "server_error", 500)
