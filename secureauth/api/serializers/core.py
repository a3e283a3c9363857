"""Request validation and response shapes of the core endpoints."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from ...client import MAX_DEVICE_NAME
from ...services.users import email_field, max_email_length, normalize_email


class UserSerializer(serializers.Serializer):
    id = serializers.SerializerMethodField()
    email = serializers.SerializerMethodField()
    roles = serializers.SerializerMethodField()
    email_verified = serializers.SerializerMethodField()
    mfa_enabled = serializers.SerializerMethodField()
    date_joined = serializers.SerializerMethodField()

    def get_id(self, user) -> str:
        return str(user.pk)

    def get_email(self, user) -> str:
        return getattr(user, email_field(), "") or ""

    def get_roles(self, user) -> list[str]:
        return list(getattr(user, "sa_roles", []))

    def get_email_verified(self, user) -> bool:
        return bool(getattr(user, "sa_email_verified", False))

    def get_mfa_enabled(self, user) -> bool:
        return bool(getattr(user, "sa_mfa_enabled", False))

    def get_date_joined(self, user) -> str | None:
        joined = getattr(user, "date_joined", None)
        return serializers.DateTimeField().to_representation(joined) if joined else None


class DeviceSerializer(serializers.Serializer):
    name = serializers.CharField(source="device_name")
    browser = serializers.CharField()
    os = serializers.CharField()
    type = serializers.CharField(source="device_type")


class SessionSerializer(serializers.Serializer):
    id = serializers.CharField()
    current = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    ip = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField()
    device = DeviceSerializer(source="*")

    def get_current(self, session) -> bool:
        return str(session.pk) == str(self.context.get("current_session_id"))


class TokenResponseSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.SerializerMethodField()
    expires_in = serializers.IntegerField()
    refresh_token = serializers.CharField(required=False)
    refresh_expires_in = serializers.IntegerField()
    session = serializers.SerializerMethodField()
    user = UserSerializer()

    def get_token_type(self, issued) -> str:
        return "Bearer"

    def get_session(self, issued) -> dict:
        return SessionSerializer(
            issued.session, context={"current_session_id": issued.session.pk}
        ).data


class MFAChallengeSerializer(serializers.Serializer):
    mfa_required = serializers.SerializerMethodField()
    mfa_token = serializers.CharField()
    methods = serializers.ListField(child=serializers.CharField())
    expires_in = serializers.IntegerField()

    def get_mfa_required(self, pending) -> bool:
        return True


class EmailField(serializers.EmailField):
    def __init__(self, **kwargs):
        super().__init__(max_length=254, **kwargs)

    def to_internal_value(self, data):
        value = normalize_email(super().to_internal_value(data))
        if len(value) > max_email_length():
            raise serializers.ValidationError(
                f"Ensure this field has no more than {max_email_length()} characters."
            )
        return value


class DeviceNameMixin(serializers.Serializer):
    device_name = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_DEVICE_NAME, default=""
    )


class RegisterSerializer(DeviceNameMixin):
    email = EmailField()
    password = serializers.CharField(max_length=4096, trim_whitespace=False, write_only=True)

    def validate(self, attrs):
        User = get_user_model()
        candidate = User(**{email_field(): attrs["email"]})
        try:
            validate_password(attrs["password"], user=candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)})
        return attrs


class LoginSerializer(DeviceNameMixin):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, write_only=True)


class RefreshSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(required=False, max_length=256, allow_blank=False)


class LogoutSerializer(RefreshSerializer):
    pass
