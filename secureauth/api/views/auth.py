"""Register, login, refresh, logout, logout-all, me."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from ...constants import Event, RevokeReason
from ...exceptions import PermissionDenied, SecureAuthError
from ...models.users import load_security_state
from ...services import audit
from ...services.login import sign_in_with_password
from ...services.registration import register
from ...services.rotation import find_refresh_token, rotate_refresh_token
from ...services.sessions import revoke_all_sessions, revoke_session
from ..cookies import clear_cookie, has_csrf_header, read_cookie
from ..serializers import (
    LoginSerializer,
    LogoutSerializer,
    RefreshSerializer,
    RegisterSerializer,
    TokenResponseSerializer,
    UserSerializer,
)
from .base import PublicView, SecureAuthView, no_store, sign_in_response, token_response

UserEnvelope = inline_serializer("UserEnvelope", {"user": UserSerializer()})


class RegisterView(PublicView):
    rate_limit_scope = "register"

    @extend_schema(request=RegisterSerializer, responses={201: UserEnvelope}, tags=["account"])
    def post(self, request):
        data = self.validated(RegisterSerializer, request)
        user = register(
            data["email"],
            data["password"],
            self.client(request, data["device_name"]),
        )
        return no_store(Response({"user": UserSerializer(user).data}, status=201))


class LoginView(PublicView):
    @extend_schema(
        request=LoginSerializer,
        responses={200: OpenApiResponse(TokenResponseSerializer, "Tokens, or an MFA challenge")},
        tags=["auth"],
    )
    def post(self, request):
        data = self.validated(LoginSerializer, request)
        outcome = sign_in_with_password(
            data["email"],
            data["password"],
            self.client(request, data["device_name"]),
        )
        return sign_in_response(request, outcome)


class RefreshView(PublicView):
    rate_limit_scope = "refresh"

    @extend_schema(
        request=RefreshSerializer, responses={200: TokenResponseSerializer}, tags=["auth"]
    )
    def post(self, request):
        data = self.validated(RefreshSerializer, request)
        token = data.get("refresh_token")
        from_cookie = False
        if not token:
            token = read_cookie(request)
            if token is None:
                raise serializers.ValidationError({"refresh_token": ["This field is required."]})
            if not has_csrf_header(request):
                raise PermissionDenied(
                    "Send the X-SecureAuth-Cookie: 1 header to refresh from the cookie."
                )
            from_cookie = True
        issued = rotate_refresh_token(token, self.client(request))
        return token_response(request, issued, cookie=from_cookie)


class LogoutView(SecureAuthView):
    @extend_schema(request=LogoutSerializer, responses={204: None}, tags=["auth"])
    def post(self, request):
        data = self.validated(LogoutSerializer, request)
        client = self.client(request)
        revoke_session(request.auth.session, RevokeReason.LOGOUT, client=client, event=Event.LOGOUT)
        token = data.get("refresh_token")
        if not token and has_csrf_header(request):
            token = read_cookie(request)
        if token:
            self._revoke_token_session(request.user, token, client)
        response = Response(status=204)
        clear_cookie(response)
        return response

    def _revoke_token_session(self, user, token: str, client) -> None:
        """Also end the session the given refresh token belongs to, if it is the caller's."""
        try:
            row = find_refresh_token(token)
        except SecureAuthError:
            return
        if row.session.user_id == user.pk:
            revoke_session(row.session, RevokeReason.LOGOUT, client=client, event=Event.LOGOUT)


class LogoutAllView(SecureAuthView):
    @extend_schema(request=None, responses={204: None}, tags=["auth"])
    def post(self, request):
        count = revoke_all_sessions(request.user, RevokeReason.LOGOUT_ALL)
        audit.record(
            Event.LOGOUT_ALL,
            user=request.user,
            session=request.auth.session,
            client=self.client(request),
            sessions_revoked=count,
        )
        response = Response(status=204)
        clear_cookie(response)
        return response


class MeView(SecureAuthView):
    @extend_schema(responses={200: UserSerializer}, tags=["account"])
    def get(self, request):
        load_security_state(request.user)
        return no_store(Response(UserSerializer(request.user).data))
