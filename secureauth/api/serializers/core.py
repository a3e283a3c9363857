"""Request validation and response shapes of the core endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from ...adapter import get_adapter
from ...client import MAX_DEVICE_NAME, display_user_agent, neutralize
from ...emails import InvalidEmail, canonical_email
from ...models.users import security_state
from ...services.users import email_field, max_email_length, normalize_email

if TYPE_CHECKING:
    from ...types import UserType


def iso8601(value: datetime | None) -> str | None:
    """UTC, ISO 8601, ``Z`` suffix (``2026-11-22T15:31:02.123456Z``)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def user_data(user: UserType) -> dict:
    """The contract's user object (the user must carry its security state), as the
    adapter's ``serialize_user`` shapes it."""
    return get_adapter().serialize_user(user, _contract_user_data(user))


def _contract_user_data(user: UserType) -> dict:
    state = security_state(user)
    return {
        "id": str(user.pk),
        "email": getattr(user, email_field(), "") or "",
        "roles": list(state.roles),
        "email_verified": state.email_verified,
        "mfa_enabled": state.mfa_enabled,
        "date_joined": iso8601(getattr(user, "date_joined", None)),
    }


def session_data(session, current_session_id=None) -> dict:
    """The contract's session object."""
    return {
        "id": str(session.pk),
        "current": str(session.pk) == str(current_session_id),
        "created_at": iso8601(session.created_at),
        "last_used_at": iso8601(session.last_used_at),
        "expires_at": iso8601(session.expires_at),
        "ip": session.ip,
        "user_agent": display_user_agent(session.user_agent),
        "device": {
            "name": session.device_name,
            "browser": session.browser,
            "os": session.os,
            "type": session.device_type,
        },
    }


def token_data(issued) -> dict:
    """The contract's token response for an ``IssuedTokens``."""
    return {
        "access_token": issued.access_token,
        "token_type": "DPoP" if issued.session.dpop_jkt else "Bearer",
        "expires_in": issued.expires_in,
        "refresh_token": issued.refresh_token,
        "refresh_expires_in": issued.refresh_expires_in,
        "session": session_data(issued.session, issued.session.pk),
        "user": user_data(issued.user),
    }


def reauthenticated_data(result) -> dict:
    """The answer of a re-authentication: a new access token for the same session."""
    return {
        "access_token": result.access_token,
        "token_type": result.token_type,
        "expires_in": result.expires_in,
        "auth_time": iso8601(result.auth_time),
    }


# The serializers below describe the same shapes for the OpenAPI schema; they
# render through the plain functions above (hot paths skip DRF's field machinery).


class UserSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The user's id (a string, whatever the user model).")
    email = serializers.EmailField()
    roles = serializers.ListField(
        child=serializers.CharField(), help_text="Role names (Django groups)."
    )
    email_verified = serializers.BooleanField()
    mfa_enabled = serializers.BooleanField(help_text="Whether a second factor (TOTP) is on.")
    date_joined = serializers.DateTimeField(
        allow_null=True, help_text="Null for a user model without `date_joined`."
    )

    def to_representation(self, user) -> dict:
        return user_data(user)


class DeviceSerializer(serializers.Serializer):
    name = serializers.CharField(
        allow_blank=True, help_text="The client's device_name, or one derived from the user agent."
    )
    browser = serializers.CharField(allow_blank=True)
    os = serializers.CharField(allow_blank=True)
    type = serializers.ChoiceField(choices=["desktop", "mobile", "tablet", "bot", "other"])


class SessionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    current = serializers.BooleanField(help_text="Whether this is the caller's own session.")
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(help_text="The session's absolute end.")
    ip = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField(allow_blank=True)
    device = DeviceSerializer()

    def to_representation(self, session) -> dict:
        return session_data(session, self.context.get("current_session_id"))


#: ``Bearer``; ``DPoP`` for a sender-constrained token (API.md, DPoP).
TOKEN_TYPES = ["Bearer", "DPoP"]


class TokenResponseSerializer(serializers.Serializer):
    access_token = serializers.CharField(help_text="A JWT: send it as `Authorization: Bearer`.")
    token_type = serializers.ChoiceField(choices=TOKEN_TYPES)
    expires_in = serializers.IntegerField(help_text="Seconds the access token is valid.")
    refresh_token = serializers.CharField(
        required=False, help_text="Opaque; single use (rotated). Omitted in cookie mode."
    )
    refresh_expires_in = serializers.IntegerField(
        help_text="Seconds the refresh token is valid if unused."
    )
    session = SessionSerializer()
    user = UserSerializer()

    def to_representation(self, issued) -> dict:
        return token_data(issued)


class MFAChallengeSerializer(serializers.Serializer):
    """The answer of a sign-in that needs the second factor: no tokens yet."""

    mfa_required = serializers.SerializerMethodField(help_text="Always true.")
    mfa_token = serializers.CharField(help_text="Send it to mfa/verify/ with a code.")
    methods = serializers.ListField(child=serializers.ChoiceField(["totp", "recovery_code"]))
    expires_in = serializers.IntegerField(help_text="Seconds the mfa_token is valid.")

    def get_mfa_required(self, pending) -> bool:
        return True


#: A sign-in's 200: the tokens, or the MFA challenge for a user with a second factor.
SignInResponse = PolymorphicProxySerializer(
    component_name="SignInResponse",
    serializers=[TokenResponseSerializer, MFAChallengeSerializer],
    resource_type_field_name=None,
)


class EmailField(serializers.EmailField):
    def __init__(self, **kwargs):
        super().__init__(max_length=254, **kwargs)

    def to_internal_value(self, data):
        value = normalize_email(super().to_internal_value(data))
        try:
            canonical_email(value)
        except InvalidEmail as error:
            raise serializers.ValidationError(str(error))
        if len(value) > max_email_length():
            raise serializers.ValidationError(
                f"Ensure this field has no more than {max_email_length()} characters."
            )
        return value


class DeviceNameMixin(serializers.Serializer):
    device_name = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=MAX_DEVICE_NAME,
        default="",
        help_text="A name for this device in the session list (printable characters); "
        "by default one is derived from the user agent.",
    )

    def validate_device_name(self, value: str) -> str:
        # Shown to the user in their session list and security mails: no control or
        # bidi characters that could forge lines or reorder text there.
        if neutralize(value) != value:
            raise serializers.ValidationError("Use printable characters only.")
        return value


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
    email = serializers.CharField(max_length=254, help_text="The account's email address.")
    password = serializers.CharField(max_length=4096, trim_whitespace=False, write_only=True)


class RefreshSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(
        required=False,
        max_length=256,
        allow_blank=False,
        help_text="Required unless cookie mode sends it as a cookie.",
    )


class LogoutSerializer(RefreshSerializer):
    pass
