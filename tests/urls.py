from django.contrib import admin
from django.urls import include, path
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from secureauth.api.views.base import SecureAuthView
from secureauth.authentication import AccessTokenAuthentication
from secureauth.permissions import HasVerifiedEmail, IsMFAAuthenticated, IsRecentlyAuthenticated


class MFAOnlyView(SecureAuthView):
    """Test-only: a view guarded by IsMFAAuthenticated."""

    permission_classes = [IsAuthenticated, IsMFAAuthenticated]

    @extend_schema(exclude=True)
    def get(self, request):
        return Response({"ok": True})


class PlainHostView(APIView):
    """Test-only: a host project's own DRF view (DRF's default exception handler, not
    SecureAuth's) guarded by SecureAuth's authentication and permission classes."""

    authentication_classes = [AccessTokenAuthentication]
    permission_classes = [IsAuthenticated, IsRecentlyAuthenticated, HasVerifiedEmail]

    @extend_schema(exclude=True)
    def get(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("auth/", include("secureauth.urls")),
    path("account/", include("secureauth.account.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("test/mfa-only/", MFAOnlyView.as_view()),
    path("test/host-view/", PlainHostView.as_view()),
]
