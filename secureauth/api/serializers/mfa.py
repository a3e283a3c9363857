"""Request validation and response shapes of the two-factor (TOTP, recovery code) endpoints."""

from __future__ import annotations

import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

TOTP_CODE = re.compile(r"[0-9]{6,8}")


@extend_schema_field(
    {
        "type": "string",
        "pattern": "^[0-9]{6,8}$",
        "maxLength": 8,
        "example": "123456",
    }
)
class TOTPCodeField(serializers.CharField):
    """A code from an authenticator app: 6 to 8 ASCII digits (spaces are ignored)."""

    default_error_messages = {"format": "Enter the 6-digit code from your authenticator app."}

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "The current code of the authenticator app.")
        super().__init__(max_length=16, **kwargs)

    def to_internal_value(self, data):
        value = "".join(super().to_internal_value(data).split())
        if not TOTP_CODE.fullmatch(value):
            self.fail("format")
        return value


class RecoveryCodeField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "One of the recovery codes (each works once).")
        super().__init__(max_length=64, **kwargs)


class TOTPCodeSerializer(serializers.Serializer):
    code = TOTPCodeField()


class SecondFactorSerializer(serializers.Serializer):
    """Exactly one of ``code`` (authenticator app) or ``recovery_code``."""

    code = TOTPCodeField(required=False)
    recovery_code = RecoveryCodeField(required=False)

    def validate(self, attrs):
        given = [name for name in ("code", "recovery_code") if attrs.get(name)]
        if not given:
            raise serializers.ValidationError(
                {"code": ["Send code (or recovery_code)."]}, code="required"
            )
        if len(given) > 1:
            raise serializers.ValidationError(
                {"code": ["Send either code or recovery_code, not both."]}
            )
        attrs.setdefault("code", None)
        attrs.setdefault("recovery_code", None)
        return attrs


class MFAVerifySerializer(SecondFactorSerializer):
    mfa_token = serializers.CharField(max_length=256, help_text="The mfa_token of login/.")


class MFADisableSerializer(SecondFactorSerializer):
    password = serializers.CharField(
        max_length=4096,
        trim_whitespace=False,
        write_only=True,
        required=False,
        help_text="Required when the account has a password; "
        "an account without one (social or passkey only) proves itself with the code alone.",
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        user = self.context.get("user")
        if "password" not in attrs and user is not None and user.has_usable_password():
            raise serializers.ValidationError({"password": ["This field is required."]})
        return attrs


class TOTPSetupSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The TOTP secret, base32 (shown only here).")
    otpauth_uri = serializers.CharField(help_text="otpauth:// URI for authenticator apps.")
    qr_svg = serializers.CharField(help_text="The otpauth URI as a QR code, an SVG document.")


class RecoveryCodesSerializer(serializers.Serializer):
    recovery_codes = serializers.ListField(
        child=serializers.CharField(), help_text="Single-use codes, shown only here."
    )
