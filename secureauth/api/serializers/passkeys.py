"""Request validation and response shapes of the passkey (WebAuthn) endpoints."""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from .account import ReauthenticatedSerializer
from .core import DeviceNameMixin, EmailField, TokenResponseSerializer


class PasskeySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class CredentialField(serializers.DictField):
    """A PublicKeyCredential as the browser's ``toJSON()`` gives it (base64url fields)."""

    def __init__(self, **kwargs):
        super().__init__(
            help_text="The PublicKeyCredential JSON (as the browser's toJSON() gives it).",
            **kwargs,
        )


class PasskeyRegisterSerializer(serializers.Serializer):
    credential = CredentialField()
    name = serializers.CharField(required=False, allow_blank=True, max_length=128, default="")


class PasskeyDeleteSerializer(serializers.Serializer):
    password = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=4096,
        trim_whitespace=False,
        write_only=True,
        help_text="The current password (required when the account has one).",
    )


class PasskeyLoginBeginSerializer(serializers.Serializer):
    email = EmailField(required=False, allow_blank=True)


class PasskeyLoginChallengeSerializer(serializers.Serializer):
    challenge_id = serializers.UUIDField(help_text="Send it back to passkeys/login/complete/.")
    options = serializers.DictField(help_text="PublicKeyCredentialRequestOptions JSON.")


class PasskeyLoginCompleteSerializer(DeviceNameMixin):
    challenge_id = serializers.CharField(
        max_length=64, help_text="The challenge_id of passkeys/login/begin/."
    )
    credential = CredentialField()


#: passkeys/login/complete/'s 200: the tokens; sent with a Bearer token, a re-authentication.
PasskeySignInResponse = PolymorphicProxySerializer(
    component_name="PasskeySignInResponse",
    serializers=[TokenResponseSerializer, ReauthenticatedSerializer],
    resource_type_field_name=None,
)
