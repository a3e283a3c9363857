"""Administrator actions on a user: set roles, revoke every session (role ``admin``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from ...permissions import HasRole, IsRecentlyAuthenticated
from ...services.roles import find_user, revoke_sessions_as_admin, set_roles
from ..serializers import UserSerializer
from ..serializers.users import RolesSerializer
from .base import SecureAuthView, no_store

ADMIN_ROLE = "admin"
ERRORS = {
    401: OpenApiResponse(description="not_authenticated, or a bad token"),
    403: OpenApiResponse(description="permission_denied: the caller lacks role admin"),
    404: OpenApiResponse(description="not_found: no user with this id"),
}


class AdminView(SecureAuthView):
    permission_classes = [IsAuthenticated, HasRole(ADMIN_ROLE), IsRecentlyAuthenticated]


class UserRolesView(AdminView):
    @extend_schema(
        request=RolesSerializer, responses={200: UserSerializer, **ERRORS}, tags=["admin"]
    )
    def post(self, request, user_id: str):
        target = find_user(user_id)
        data = self.validated(RolesSerializer, request)
        set_roles(target, data["roles"], actor=request.user, client=self.client(request))
        return no_store(Response(UserSerializer(target).data))


class UserRevokeSessionsView(AdminView):
    @extend_schema(request=None, responses={204: None, **ERRORS}, tags=["admin"])
    def post(self, request, user_id: str):
        target = find_user(user_id)
        revoke_sessions_as_admin(target, actor=request.user, client=self.client(request))
        return Response(status=204)
