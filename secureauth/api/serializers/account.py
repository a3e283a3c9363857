"""Request validation of the password and email-verification endpoints."""

from __future__ import annotations

from rest_framework import serializers

from .core import TOKEN_TYPES, EmailField, reauthenticated_data
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
    detail = serializers.CharField(help_text="What happens next, for people.")


class ReauthenticateSerializer(serializers.Serializer):
    """The password, or (accounts with TOTP) a current ``code`` or a ``recovery_code``."""

    password = password_field(required=False)
    code = TOTPCodeField(required=False)
    recovery_code = serializers.CharField(
        required=False, max_length=64, help_text="One of the recovery codes (each works once)."
    )

    def validate(self, attrs):
        given = [name for name in ("password", "code", "recovery_code") if attrs.get(name)]
        if len(given) != 1:
            raise serializers.ValidationError(
                {"non_field_errors": ["Send exactly one of password, code or recovery_code."]}
            )
        return attrs


class ReauthenticatedSerializer(serializers.Serializer):
    """A new access token for the same session, with a fresh ``auth_time``."""

    access_token = serializers.CharField()
    token_type = serializers.ChoiceField(choices=TOKEN_TYPES)
    expires_in = serializers.IntegerField(help_text="Seconds the access token is valid.")
    auth_time = serializers.DateTimeField(help_text="Now: when the user proved themselves.")

    def to_representation(self, result) -> dict:
        return reauthenticated_data(result)


class SessionReportSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=512, help_text="The token of a new-sign-in mail.")
