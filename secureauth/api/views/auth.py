"""Register, login, refresh, logout, logout-all, me."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from ...constants import Event, RevokeReason
from ...exceptions import PermissionDenied, SecureAuthError
from ...schema import (
    BEARER,
    BODY,
    COOKIE_MODE,
    DPOP_HEADERS,
    DPOP_SIGN_IN,
    ERROR_HEADERS,
    RATE_LIMITED,
    errors,
)
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
from ..serializers.core import SignInResponse
from .base import PublicView, SecureAuthView, no_store, sign_in_response, token_response

UserEnvelope = inline_serializer("UserEnvelope", {"user": UserSerializer()})


class RegisterView(PublicView):
    rate_limit_scope = "register"

    @extend_schema(
        operation_id="register",
        summary="Create an account",
        description="Creates a user with this email and password (checked by the project's "
        "password validators) and mails a link that verifies the address. Signs nobody in: "
        "call login/ next. Rate limited per client IP.",
        request=RegisterSerializer,
        responses={
            201: UserEnvelope,
            **errors(
                BODY,
                {409: [("email_taken", "an account already uses this email, in any spelling")]},
                RATE_LIMITED,
            ),
        },
        parameters=ERROR_HEADERS,
        auth=[],
        tags=["account"],
    )
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
        operation_id="login",
        summary="Sign in with email and password",
        description="Answers the token response and opens a session (a device in sessions/). "
        "A user with a second factor gets the MFA challenge instead (`mfa_required`, no "
        "tokens): send its `mfa_token` and a code to mfa/verify/. Failed attempts are "
        "counted per client IP and per email; past LOGIN_FAILURES_ALLOWED they are refused "
        "with 429 and a `Retry-After` that doubles with each further failure.",
        request=LoginSerializer,
        responses={
            200: SignInResponse,
            **errors(
                BODY,
                {
                    401: [("invalid_credentials", "wrong email or password")],
                    403: [
                        (
                            "permission_denied",
                            "the email is not verified and ALLOW_UNVERIFIED_LOGIN is off",
                        )
                    ],
                },
                RATE_LIMITED,
                DPOP_SIGN_IN,
            ),
        },
        parameters=[COOKIE_MODE, *DPOP_HEADERS, *ERROR_HEADERS],
        auth=[],
        tags=["auth"],
    )
    def post(self, request):
        data = self.validated(LoginSerializer, request)
        outcome = sign_in_with_password(
            data["email"],
            data["password"],
            self.sign_in_client(request, data["device_name"]),
        )
        return sign_in_response(request, outcome)


class RefreshView(PublicView):
    rate_limit_scope = "refresh"

    @extend_schema(
        operation_id="refresh",
        summary="Exchange a refresh token for new tokens",
        description="Rotates the refresh token: the answer holds a new one and the one sent "
        "is retired. A retired token presented again after REFRESH_REUSE_GRACE_SECONDS is "
        "taken as theft (401 `token_reused`): the whole session is revoked. A refresh token "
        "bound to a DPoP key needs a `DPoP` proof by that key. In cookie mode "
        "the token is read from the cookie, with the `X-SecureAuth-Cookie: 1` header.",
        request=RefreshSerializer,
        responses={
            200: TokenResponseSerializer,
            **errors(
                BODY,
                {
                    401: [
                        ("token_invalid", "unknown or malformed refresh token"),
                        ("token_expired", "idle or absolute session lifetime reached"),
                        "token_reused",
                        "session_revoked",
                    ],
                    403: [
                        (
                            "permission_denied",
                            "a cookie was sent without the `X-SecureAuth-Cookie: 1` header",
                        )
                    ],
                },
                RATE_LIMITED,
                DPOP_SIGN_IN,
            ),
        },
        parameters=[COOKIE_MODE, *DPOP_HEADERS, *ERROR_HEADERS],
        auth=[],
        tags=["auth"],
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
        issued = rotate_refresh_token(token, self.sign_in_client(request))
        return token_response(request, issued, cookie=from_cookie)


class LogoutView(SecureAuthView):
    @extend_schema(
        operation_id="logout",
        summary="Sign out of this session",
        description="Revokes the caller's session: its refresh token and access tokens stop "
        "working at once. A `refresh_token` in the body (or, with `X-SecureAuth-Cookie: 1`, "
        "the cookie) also ends the session it belongs to, if it is the caller's. Clears the "
        "refresh cookie.",
        request=LogoutSerializer,
        responses={204: None, **errors(BODY, BEARER)},
        parameters=[COOKIE_MODE, *ERROR_HEADERS],
        tags=["auth"],
    )
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
    @extend_schema(
        operation_id="logout_all",
        summary="Sign out everywhere",
        description="Revokes every session of the caller, this one included.",
        request=None,
        responses={204: None, **errors(BEARER)},
        parameters=ERROR_HEADERS,
        tags=["auth"],
    )
    def post(self, request):
        count = revoke_all_sessions(request.user, RevokeReason.LOGOUT_ALL)
        audit.record_event(
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
    #: The authentication query loads the user's SecurityState too: me/ is one query.
    loads_security_state = True

    @extend_schema(
        operation_id="get_me",
        summary="The signed-in user",
        description="The caller's user object: id, email, roles, whether the email is "
        "verified and a second factor is on.",
        responses={200: UserSerializer, **errors(BEARER)},
        parameters=ERROR_HEADERS,
        tags=["account"],
    )
    def get(self, request):
        return no_store(Response(UserSerializer(request.user).data))
