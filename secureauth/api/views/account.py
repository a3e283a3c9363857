"""Password change and reset, email verification."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

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
    @extend_schema(request=PasswordChangeSerializer, responses={204: None}, tags=["account"])
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
        request=PasswordResetSerializer, responses={202: AcceptedSerializer}, tags=["account"]
    )
    def post(self, request):
        data = self.validated(PasswordResetSerializer, request)
        request_password_reset(data["email"], self.client(request))
        return accepted(RESET_ACCEPTED)


class PasswordResetConfirmView(PublicView):
    @extend_schema(request=PasswordResetConfirmSerializer, responses={204: None}, tags=["account"])
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
    @extend_schema(request=LinkSerializer, responses={204: None}, tags=["account"])
    def post(self, request):
        data = self.validated(LinkSerializer, request)
        confirm_email(data["uid"], data["token"], self.client(request))
        return Response(status=204)


class EmailVerifyResendView(SecureAuthView):
    @extend_schema(request=None, responses={202: AcceptedSerializer}, tags=["account"])
    def post(self, request):
        # Limited per account (not per IP): the caller is known.
        enforce_rate(request, "email_verify_resend", f"user:{request.user.pk}")
        resend_verification_email(request.user)
        return accepted(VERIFY_ACCEPTED)


class ReauthenticateView(SecureAuthView):
    @extend_schema(
        request=ReauthenticateSerializer,
        responses={200: ReauthenticatedSerializer},
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

    @extend_schema(request=SessionReportSerializer, responses={204: None}, tags=["sessions"])
    def post(self, request):
        data = self.validated(SessionReportSerializer, request)
        report_session(data["token"], self.client(request))
        return Response(status=204)
