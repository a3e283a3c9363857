"""Two-factor authentication: TOTP setup and confirmation, the MFA step of login,
recovery codes, and turning it off."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from ...permissions import HasVerifiedEmail, IsRecentlyAuthenticated
from ...services.mfa import (
    begin_totp_setup,
    confirm_totp,
    disable_mfa,
    regenerate_recovery_codes,
    verify_mfa_sign_in,
)
from ..serializers import TokenResponseSerializer
from ..serializers.mfa import (
    MFADisableSerializer,
    MFAVerifySerializer,
    RecoveryCodesSerializer,
    TOTPCodeSerializer,
    TOTPSetupSerializer,
)
from .base import PublicView, SecureAuthView, no_store, token_response


def recovery_codes_response(codes: list[str]) -> Response:
    return no_store(Response(RecoveryCodesSerializer({"recovery_codes": codes}).data))


class TOTPSetupView(SecureAuthView):
    permission_classes = [IsAuthenticated, IsRecentlyAuthenticated, HasVerifiedEmail]

    @extend_schema(request=None, responses={200: TOTPSetupSerializer}, tags=["mfa"])
    def post(self, request):
        setup = begin_totp_setup(request.user)
        return no_store(Response(TOTPSetupSerializer(setup).data))


class TOTPConfirmView(SecureAuthView):
    permission_classes = [IsAuthenticated, IsRecentlyAuthenticated, HasVerifiedEmail]

    @extend_schema(
        request=TOTPCodeSerializer, responses={200: RecoveryCodesSerializer}, tags=["mfa"]
    )
    def post(self, request):
        data = self.validated(TOTPCodeSerializer, request)
        codes = confirm_totp(
            request.user,
            data["code"],
            session=request.auth.session,
            client=self.client(request),
        )
        return recovery_codes_response(codes)


class MFAVerifyView(PublicView):
    rate_limit_scope = "mfa_verify"

    @extend_schema(
        request=MFAVerifySerializer, responses={200: TokenResponseSerializer}, tags=["auth"]
    )
    def post(self, request):
        data = self.validated(MFAVerifySerializer, request)
        issued = verify_mfa_sign_in(
            data["mfa_token"],
            code=data["code"],
            recovery_code=data["recovery_code"],
            client=self.client(request),
        )
        return token_response(request, issued)


class RecoveryCodesView(SecureAuthView):
    @extend_schema(
        request=TOTPCodeSerializer, responses={200: RecoveryCodesSerializer}, tags=["mfa"]
    )
    def post(self, request):
        data = self.validated(TOTPCodeSerializer, request)
        codes = regenerate_recovery_codes(
            request.user,
            data["code"],
            session=request.auth.session,
            client=self.client(request),
        )
        return recovery_codes_response(codes)


class MFADisableView(SecureAuthView):
    @extend_schema(request=MFADisableSerializer, responses={204: None}, tags=["mfa"])
    def post(self, request):
        data = self.validated(MFADisableSerializer, request, context={"user": request.user})
        disable_mfa(
            request.user,
            password=data.get("password"),
            code=data["code"],
            recovery_code=data["recovery_code"],
            session=request.auth.session,
            client=self.client(request),
        )
        return Response(status=204)
