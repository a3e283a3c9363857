"""Password change and reset, email verification."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from ...schema import (
    BEARER,
    BODY,
    ERROR_HEADERS,
    RATE_LIMITED,
    errors,
)
from ...services.passwords import change_password, request_password_reset, reset_password
from ...services.reauth import reauthenticate
from ...services.sessions import report_session
from ...services.verification import confirm_email, resend_verification_email
from ...throttling import enforce_rate
from ..serializers.account import (
    AcceptedSerializer,
    LinkSerializer,
    PasswordChangeSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetSerializer,
    ReauthenticatedSerializer,
    ReauthenticateSerializer,
    SessionReportSerializer,
)
from .base import PublicView, SecureAuthView, no_store

RESET_ACCEPTED = "If an account uses this address, we have sent it a link to reset the password."
VERIFY_ACCEPTED = "If your address is not verified yet, we have sent you a new link."


@contextmanager
def new_password_errors() -> Iterator[None]:
    """Report a password refused by Django's validators as a ``new_password`` field error."""
    try:
        yield
    except DjangoValidationError as exc:
        raise serializers.ValidationError({"new_password": list(exc.messages)})


def accepted(detail: str) -> Response:
    return no_store(Response({"detail": detail}, status=202))


class PasswordChangeView(SecureAuthView):
    @extend_schema(
        operation_id="change_password",
        summary="Change the password",
        description="Sets a new password (checked by the project's password validators) "
        "against the current one. Every other session of the user is revoked; this one "
        "stays signed in. Wrong current passwords count toward the login limiter.",
        request=PasswordChangeSerializer,
        responses={
            204: None,
            **errors(
                BODY,
                {400: [("invalid_credentials", "the current password is wrong")]},
                BEARER,
                RATE_LIMITED,
            ),
        },
        parameters=ERROR_HEADERS,
        tags=["account"],
    )
    def post(self, request):
        data = self.validated(PasswordChangeSerializer, request)
        with new_password_errors():
            change_password(
                request.user,
                data["current_password"],
                data["new_password"],
                session=request.auth.session,
                client=self.client(request),
            )
        return Response(status=204)


class PasswordResetView(PublicView):
    rate_limit_scope = "password_reset"

    @extend_schema(
        operation_id="request_password_reset",
        summary="Ask for a password-reset link",
        description="Mails a reset link if an active account uses this address. The answer "
        "is the same (and as fast) whether or not it does. Rate limited per client IP.",
        request=PasswordResetSerializer,
        responses={202: AcceptedSerializer, **errors(BODY, RATE_LIMITED)},
        parameters=ERROR_HEADERS,
        auth=[],
        tags=["account"],
    )
    def post(self, request):
        data = self.validated(PasswordResetSerializer, request)
        request_password_reset(data["email"], self.client(request))
        return accepted(RESET_ACCEPTED)


class PasswordResetConfirmView(PublicView):
    @extend_schema(
        operation_id="reset_password",
        summary="Set a new password from a reset link",
        description="Takes the `uid` and `token` of the mailed link and a new password "
        "(checked by the project's password validators). Every session of the user is "
        "revoked; nobody is signed in. The link works once; it also proves the email.",
        request=PasswordResetConfirmSerializer,
        responses={
            204: None,
            **errors(BODY, {400: [("invalid", "the link is invalid, expired or used")]}),
        },
        parameters=ERROR_HEADERS,
        auth=[],
        tags=["account"],
    )
    def post(self, request):
        data = self.validated(PasswordResetConfirmSerializer, request)
        with new_password_errors():
            reset_password(
                data["uid"],
                data["token"],
                data["new_password"],
                self.client(request),
            )
        return Response(status=204)


class EmailVerifyView(PublicView):
    @extend_schema(
        operation_id="verify_email",
        summary="Verify the email address from a link",
        description="Takes the `uid` and `token` of the mailed verification link; the "
        "link works once.",
        request=LinkSerializer,
        responses={
            204: None,
            **errors(BODY, {400: [("invalid", "the link is invalid, expired or used")]}),
        },
        parameters=ERROR_HEADERS,
        auth=[],
        tags=["account"],
    )
    def post(self, request):
        data = self.validated(LinkSerializer, request)
        confirm_email(data["uid"], data["token"], self.client(request))
        return Response(status=204)


class EmailVerifyResendView(SecureAuthView):
    @extend_schema(
        operation_id="resend_verification_email",
        summary="Mail a new verification link",
        description="Mails the caller a new link that verifies their address, unless it is "
        "verified already. Rate limited per account.",
        request=None,
        responses={202: AcceptedSerializer, **errors(BEARER, RATE_LIMITED)},
        parameters=ERROR_HEADERS,
        tags=["account"],
    )
    def post(self, request):
        # Limited per account (not per IP): the caller is known.
        enforce_rate(request, "email_verify_resend", f"user:{request.user.pk}")
        resend_verification_email(request.user)
        return accepted(VERIFY_ACCEPTED)


class ReauthenticateView(SecureAuthView):
    @extend_schema(
        operation_id="reauthenticate",
        summary="Prove the user again for sensitive operations",
        description="Takes exactly one of the password or, for a user with TOTP, a current "
        "`code` or a `recovery_code`, and answers a new access token for the same session "
        "with a fresh `auth_time`: the proof that operations answering 401 "
        "`reauthentication_required` ask for. A passkey user may instead sign the challenge "
        "of passkeys/login/begin/ and send it to passkeys/login/complete/ with their Bearer "
        "token. Wrong proofs count toward the login limiter.",
        request=ReauthenticateSerializer,
        responses={
            200: ReauthenticatedSerializer,
            **errors(
                BODY,
                {
                    400: [("invalid_credentials", "the password is wrong")],
                    401: [("mfa_invalid", "the code or recovery code is wrong or used")],
                    409: [("invalid", "a code was sent but two-factor authentication is off")],
                },
                BEARER,
                RATE_LIMITED,
            ),
        },
        parameters=ERROR_HEADERS,
        tags=["account"],
    )
    def post(self, request):
        data = self.validated(ReauthenticateSerializer, request)
        result = reauthenticate(
            request.user,
            request.auth.session,
            self.client(request),
            password=data.get("password"),
            code=data.get("code"),
            recovery_code=data.get("recovery_code"),
        )
        return no_store(Response(ReauthenticatedSerializer(result).data))


class SessionReportView(PublicView):
    rate_limit_scope = "session_report"

    @extend_schema(
        operation_id="report_session",
        summary='"This wasn\'t me": revoke a session from its new-sign-in mail',
        description="Takes the token of the link in a new-device notification and revokes "
        "that session at once. The link works once and for "
        "SESSION_REPORT_LINK_LIFETIME. Rate limited per client IP.",
        request=SessionReportSerializer,
        responses={
            204: None,
            **errors(
                BODY, {400: [("invalid", "the link is invalid, expired or used")]}, RATE_LIMITED
            ),
        },
        parameters=ERROR_HEADERS,
        auth=[],
        tags=["sessions"],
    )
    def post(self, request):
        data = self.validated(SessionReportSerializer, request)
        report_session(data["token"], self.client(request))
        return Response(status=204)
