"""The example service's own views: a protected API view, health, JSON error pages.

Errors of ``ExampleView`` (and of any DRF view a host adds) get the contract's
``{"detail", "code"}`` shape from SecureAuth's exception handler, named in
``REST_FRAMEWORK["EXCEPTION_HANDLER"]`` in settings.py.
"""

from __future__ import annotations

import logging
import secrets
import sys

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from secureauth.api.exception_handler import OUTAGE_RETRY_AFTER
from secureauth.authentication import AccessTokenAuthentication
from secureauth.middleware import database_unavailable_response, is_database_outage
from secureauth.permissions import HasAnyRole

logger = logging.getLogger("secureauth")


class ExampleView(APIView):
    """How a host project protects its own views with SecureAuth tokens and roles."""

    authentication_classes = [AccessTokenAuthentication]
    permission_classes = [HasAnyRole("admin", "staff")]

    @extend_schema(
        summary="A host view protected by SecureAuth",
        description="Answers the caller's username and sign-in methods; role admin or staff.",
        responses={
            200: inline_serializer(
                "ExampleResponse",
                {
                    "hello": serializers.CharField(),
                    "amr": serializers.ListField(child=serializers.CharField()),
                },
            ),
            401: OpenApiResponse(description="not_authenticated, or a bad token"),
            403: OpenApiResponse(description="permission_denied: neither role admin nor staff"),
            503: OpenApiResponse(description="service_unavailable: the database is unreachable"),
        },
        tags=["example"],
    )
    def get(self, request):
        return Response({"hello": request.user.get_username(), "amr": request.auth.amr})


def _database_ok() -> bool:
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # any driver error means "not serving"
        logger.error("health: database unavailable: %s", error)
        return False
    return True


def _cache_ok() -> bool:
    # A key of its own per probe: concurrent probes never read each other's value.
    key, value = f"secureauth:health:{secrets.token_hex(8)}", secrets.token_hex(8)
    try:
        cache.set(key, value, timeout=10)
        ok = cache.get(key) == value
        cache.delete(key)
    except Exception as error:  # e.g. Redis unreachable
        logger.error("health: cache unavailable: %s", error)
        return False
    if not ok:
        logger.error("health: cache does not keep values")
    return ok


def _no_store(response: JsonResponse) -> JsonResponse:
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt  # a POST gets the JSON 405, not the HTML CSRF page
def health(request):
    """200 ``{"status": "ok"}`` when the database and the cache answer, else 503 in the
    contract's error shape with ``Retry-After`` (a plain view: a load balancer's probe
    is never refused by content negotiation)."""
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse(
            {"detail": f'Method "{request.method}" not allowed.', "code": "method_not_allowed"},
            status=405,
        )
        response["Allow"] = "GET, HEAD"
        return response
    for component, ok in (("database", _database_ok), ("cache", _cache_ok)):
        if not ok():
            response = JsonResponse(
                {"detail": f"The {component} is unavailable.", "code": "service_unavailable"},
                status=503,
            )
            response["Retry-After"] = str(OUTAGE_RETRY_AFTER)
            return _no_store(response)
    return _no_store(JsonResponse({"status": "ok"}))


@csrf_exempt  # any method on an unknown path is a JSON 404
def not_found(request, exception=None):
    return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)


def server_error(request):
    # Django calls this handler while handling the exception: a database outage raised
    # outside a view (by a middleware saving the session, say) is a 503 too.
    if is_database_outage(sys.exc_info()[1]):
        return database_unavailable_response()
    return JsonResponse({"detail": "Internal server error.", "code": "server_error"}, status=500)
