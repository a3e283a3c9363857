"""Request and response shapes of social login and connected identities."""

from __future__ import annotations

from rest_framework import serializers

from .core import DeviceNameMixin

# RFC 7636: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
CODE_VERIFIER = r"^[A-Za-z0-9\-._~]{43,128}$"


class SocialAuthSerializer(DeviceNameMixin):
    """Either the provider's ``access_token`` (with its ``id_token`` and ``nonce`` for
    OpenID Connect), or an authorization ``code`` with its ``redirect_uri`` and the PKCE
    ``code_verifier`` (PKCE is required), plus the ``state`` and ``nonce`` the client
    used. What each backend accepts beyond this shape is ``secureauth.social.flows``."""

    access_token = serializers.CharField(
        required=False, max_length=4096, trim_whitespace=False, write_only=True
    )
    code = serializers.CharField(required=False, max_length=2048, write_only=True)
    # Not a URLField: native apps use custom schemes (com.example.app:/oauth2redirect).
    redirect_uri = serializers.CharField(required=False, max_length=2048)
    code_verifier = serializers.RegexField(
        CODE_VERIFIER,
        required=False,
        write_only=True,
        error_messages={"invalid": "Must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~"},
    )
    state = serializers.CharField(required=False, max_length=128)
    nonce = serializers.CharField(required=False, max_length=255)
    # With access_token, for OpenID Connect backends: the ID token issued with it.
    id_token = serializers.CharField(
        required=False, max_length=8192, trim_whitespace=False, write_only=True
    )

    def validate(self, attrs):
        has_token, has_code = bool(attrs.get("access_token")), bool(attrs.get("code"))
        if has_token == has_code:
            raise serializers.ValidationError(
                {"non_field_errors": ["Send either access_token, or code and redirect_uri."]}
            )
        if has_code:
            missing = [k for k in ("redirect_uri", "code_verifier") if not attrs.get(k)]
            if missing:
                raise serializers.ValidationError(
                    {name: ["This field is required."] for name in missing}
                )
        if has_token:
            extra = [k for k in ("code_verifier", "state", "redirect_uri") if attrs.get(k)]
            if extra:
                raise serializers.ValidationError(
                    {name: ["Only used with code."] for name in extra}
                )
        return attrs


class SocialConnectionSerializer(serializers.Serializer):
    id = serializers.SerializerMethodField()
    provider = serializers.CharField()
    uid = serializers.CharField()
    created_at = serializers.DateTimeField(source="created")

    def get_id(self, social) -> str:
        return str(social.pk)
