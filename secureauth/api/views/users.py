"""Administrator actions on a user: set roles, revoke every session (role ``admin``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from ...permissions import HasRole, IsRecentlyAuthenticated
from ...schema import BEARER, BODY, ERROR_HEADERS, RECENT_AUTH, errors
from ...services.roles import find_user, revoke_sessions_as_admin, set_roles
from ..serializers import UserSerializer
from ..serializers.users import RolesSerializer
from .base import SecureAuthView, no_store

ADMIN_ROLE = "admin"
#: What refuses an administrator's call, besides its own body.
ADMIN_ERRORS = (
    BEARER,
    RECENT_AUTH,
    {
        403: [("permission_denied", "the caller lacks the role admin")],
        404: [("not_found", "no user with this id")],
    },
)
USER_ID = OpenApiParameter(
    "user_id", str, OpenApiParameter.PATH, description="The user's id, as the user object has it."
)


class AdminView(SecureAuthView):
    # drf-stubs accept only classes and operand holders; DRF calls each entry, and a
    # HasRole instance returns itself when called.
    permission_classes = [IsAuthenticated, HasRole(ADMIN_ROLE), IsRecentlyAuthenticated]  # type: ignore[list-item]


class UserRolesView(AdminView):
    @extend_schema(
        operation_id="set_user_roles",
        summary="Set a user's roles (administrators)",
        description="Replaces the user's roles (Django groups, created when missing) with "
        "`roles`; the change is audited. Tokens already issued keep their `roles` claim until "
        "they expire. Needs the role admin and a recent authentication.",
        request=RolesSerializer,
        responses={200: UserSerializer, **errors(BODY, *ADMIN_ERRORS)},
        parameters=[USER_ID, *ERROR_HEADERS],
        tags=["admin"],
    )
    def post(self, request, user_id: str):
        target = find_user(user_id)
        data = self.validated(RolesSerializer, request)
        set_roles(target, data["roles"], actor=request.user, client=self.client(request))
        return no_store(Response(UserSerializer(target).data))


class UserRevokeSessionsView(AdminView):
    @extend_schema(
        operation_id="revoke_user_sessions",
        summary="Sign a user out everywhere (administrators)",
        description="Revokes every active session of the user; each revocation is audited "
        "with the administrator as actor. Needs the role admin and a recent authentication.",
        request=None,
        responses={204: None, **errors(*ADMIN_ERRORS)},
        parameters=[USER_ID, *ERROR_HEADERS],
        tags=["admin"],
    )
    def post(self, request, user_id: str):
        target = find_user(user_id)
        revoke_sessions_as_admin(target, actor=request.user, client=self.client(request))
        return Response(status=204)
