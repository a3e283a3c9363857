"""Request validation of the password and email-verification endpoints."""

from __future__ import annotations

from rest_framework import serializers

from .core import EmailField, reauthenticated_data
from .mfa import TOTPCodeField


def password_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(max_length=4096, trim_whitespace=False, write_only=True, **kwargs)


class PasswordChangeSerializer(serializers.Serializer):
    current_password = password_field()
    new_password = password_field(help_text="Checked by the project's password validators.")


class PasswordResetSerializer(serializers.Serializer):
    email = EmailField()


class LinkSerializer(serializers.Serializer):
    """The ``uid`` and ``token`` of a link sent by email."""

    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)


class PasswordResetConfirmSerializer(LinkSerializer):
    new_password = password_field(help_text="Checked by the project's password validators.")


class AcceptedSerializer(serializers.Serializer):
    detail = serializers.CharField()


class ReauthenticateSerializer(serializers.Serializer):
    """The password, or (accounts with TOTP) a current ``code`` or a ``recovery_code``."""

    password = password_field(required=False)
    code = serializers.CharField(required=False, max_length=16)
    recovery_code = serializers.CharField(required=False, max_length=64)

    def validate(self, attrs):
        given = [name for name in ("password", "code", "recovery_code") if attrs.get(name)]
        if len(given) != 1:
            raise serializers.ValidationError(
                {"non_field_errors": ["Send exactly one of password, code or recovery_code."]}
            )
        if "code" in given:
            attrs["code"] = TOTPCodeField().run_validation(attrs["code"])
        return attrs


class ReauthenticatedSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()
    auth_time = serializers.DateTimeField()

    def to_representation(self, result) -> dict:
        return reauthenticated_data(result)


class SessionReportSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=512, help_text="The token of a new-sign-in mail.")
