"""Two-factor authentication: TOTP setup and confirmation, the MFA step of login,
recovery codes, and turning it off."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from ...permissions import HasVerifiedEmail, IsRecentlyAuthenticated
from ...schema import (
    BEARER,
    BODY,
    COOKIE_MODE,
    DPOP_HEADERS,
    DPOP_SIGN_IN,
    ERROR_HEADERS,
    MFA_OFF,
    RATE_LIMITED,
    RECENT_AUTH,
    VERIFIED_EMAIL,
    WRONG_CODE,
    WRONG_PASSWORD,
    errors,
)
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

    @extend_schema(
        operation_id="begin_totp_setup",
        summary="Start setting up an authenticator app (TOTP)",
        description="Answers a new TOTP secret, as an otpauth:// URI and a QR code (SVG), "
        "pending until mfa/totp/confirm/ proves the app works; an earlier pending setup is "
        "replaced. Needs a verified email and a recent authentication.",
        request=None,
        responses={
            200: TOTPSetupSerializer,
            **errors(
                BEARER,
                RECENT_AUTH,
                VERIFIED_EMAIL,
                {409: [("invalid", "two-factor authentication is already on")]},
            ),
        },
        parameters=ERROR_HEADERS,
        tags=["mfa"],
    )
    def post(self, request):
        setup = begin_totp_setup(request.user)
        return no_store(Response(TOTPSetupSerializer(setup).data))


class TOTPConfirmView(SecureAuthView):
    permission_classes = [IsAuthenticated, IsRecentlyAuthenticated, HasVerifiedEmail]

    @extend_schema(
        operation_id="confirm_totp",
        summary="Turn on two-factor authentication",
        description="Confirms the pending setup with a current code of the app: from now on "
        "signing in asks for a code. Answers the recovery codes, shown only here. Every "
        "other session of the user is revoked.",
        request=TOTPCodeSerializer,
        responses={
            200: RecoveryCodesSerializer,
            **errors(
                BODY,
                BEARER,
                RECENT_AUTH,
                {401: [("mfa_invalid", "the code is wrong")]},
                VERIFIED_EMAIL,
                {
                    409: [
                        (
                            "invalid",
                            "two-factor authentication is already on, or no setup is pending",
                        )
                    ]
                },
                RATE_LIMITED,
            ),
        },
        parameters=ERROR_HEADERS,
        tags=["mfa"],
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
        operation_id="verify_mfa",
        summary="Finish signing in with the second factor",
        description="Exchanges the `mfa_token` of login/ (or social/<backend>/) and a current "
        "`code` of the app, or a `recovery_code`, for the token response (`amr` then holds "
        "`otp`). Each code works once. After MFA_MAX_ATTEMPTS refused codes the mfa_token is "
        "spent. Rate limited per client IP.",
        request=MFAVerifySerializer,
        responses={
            200: TokenResponseSerializer,
            **errors(
                BODY,
                {
                    401: [
                        ("token_invalid", "the mfa_token is unknown, expired or spent"),
                        ("mfa_invalid", "the code is wrong or was already used"),
                        ("invalid_credentials", "the sign-in details changed meanwhile"),
                    ]
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
        data = self.validated(MFAVerifySerializer, request)
        issued = verify_mfa_sign_in(
            data["mfa_token"],
            code=data["code"],
            recovery_code=data["recovery_code"],
            client=self.sign_in_client(request),
        )
        return token_response(request, issued)


class RecoveryCodesView(SecureAuthView):
    @extend_schema(
        operation_id="regenerate_recovery_codes",
        summary="Replace the recovery codes",
        description="Against a current code of the app, answers new recovery codes (shown "
        "only here); the old ones stop working.",
        request=TOTPCodeSerializer,
        responses={
            200: RecoveryCodesSerializer,
            **errors(
                BODY,
                BEARER,
                WRONG_CODE,
                MFA_OFF,
                RATE_LIMITED,
            ),
        },
        parameters=ERROR_HEADERS,
        tags=["mfa"],
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
    @extend_schema(
        operation_id="disable_mfa",
        summary="Turn off two-factor authentication",
        description="Removes the authenticator app and the recovery codes, against the "
        "password (when the account has one) and a current code or a recovery code. Every "
        "other session of the user is revoked.",
        request=MFADisableSerializer,
        responses={
            204: None,
            **errors(
                BODY,
                WRONG_PASSWORD,
                BEARER,
                WRONG_CODE,
                MFA_OFF,
                RATE_LIMITED,
            ),
        },
        parameters=ERROR_HEADERS,
        tags=["mfa"],
    )
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
