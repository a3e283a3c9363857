"""The caller's device sessions."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from ...constants import RevokeReason
from ...exceptions import NotFound
from ...schema import BEARER, ERROR_HEADERS, errors
from ...services.sessions import active_sessions, get_own_session, revoke_session
from ..serializers import SessionSerializer
from .base import SecureAuthView, no_store


class SessionListView(SecureAuthView):
    @extend_schema(
        operation_id="list_sessions",
        summary="The caller's signed-in devices",
        description="The caller's active sessions, newest first, each with its device, IP "
        "and times; `current` marks the one making this request.",
        responses={200: SessionSerializer(many=True), **errors(BEARER)},
        parameters=ERROR_HEADERS,
        tags=["sessions"],
    )
    def get(self, request):
        context = {"current_session_id": request.auth.session_id}
        sessions = active_sessions(request.user)
        return no_store(Response(SessionSerializer(sessions, many=True, context=context).data))


class SessionDetailView(SecureAuthView):
    @extend_schema(
        operation_id="revoke_session",
        summary="Sign a device out",
        description="Revokes one of the caller's active sessions (possibly this one): its "
        "tokens stop working at once.",
        responses={
            204: None,
            **errors(BEARER, {404: [("not_found", "no such active session of the caller")]}),
        },
        parameters=[
            OpenApiParameter(
                "session_id",
                OpenApiTypes.UUID,
                OpenApiParameter.PATH,
                description="The session's id.",
            ),
            *ERROR_HEADERS,
        ],
        tags=["sessions"],
    )
    def delete(self, request, session_id: str):
        session = get_own_session(request.user, session_id)
        if session is None or not session.is_active():
            raise NotFound("No such session.")
        revoke_session(session, RevokeReason.USER, client=self.client(request))
        return Response(status=204)
