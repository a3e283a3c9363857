"""The example service's own views: a protected API view, health, JSON error pages."""

from django.db import connection
from django.http import JsonResponse
from rest_framework.response import Response
from rest_framework.views import APIView

from secureauth.authentication import AccessTokenAuthentication
from secureauth.permissions import HasAnyRole


class ExampleView(APIView):
    """How a host project protects its own views with SecureAuth tokens and roles."""

    authentication_classes = [AccessTokenAuthentication]
    permission_classes = [HasAnyRole("admin", "staff")]

    def get(self, request):
        return Response({"hello": request.user.get_username(), "amr": request.auth.amr})


def health(request):
    try:
        connection.ensure_connection()
    except Exception:
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


def not_found(request, exception=None):
    return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)


def server_error(request):
    return JsonResponse({"detail": "Internal server error.", "code": "server_error"}, status=500)
