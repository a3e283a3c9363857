"""The caller's device sessions."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from ...constants import RevokeReason
from ...exceptions import NotFound
from ...services.sessions import active_sessions, get_own_session, revoke_session
from ..serializers import SessionSerializer
from .base import SecureAuthView, no_store


class SessionListView(SecureAuthView):
    @extend_schema(responses={200: SessionSerializer(many=True)}, tags=["sessions"])
    def get(self, request):
        context = {"current_session_id": request.auth.session_id}
        sessions = active_sessions(request.user)
        return no_store(Response(SessionSerializer(sessions, many=True, context=context).data))


class SessionDetailView(SecureAuthView):
    @extend_schema(responses={204: None}, tags=["sessions"])
    def delete(self, request, session_id: str):
        session = get_own_session(request.user, session_id)
        if session is None or not session.is_active():
            raise NotFound("No such session.")
        revoke_session(session, RevokeReason.USER, client=self.client(request))
        return Response(status=204)
