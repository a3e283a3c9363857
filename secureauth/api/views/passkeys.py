"""Passkeys (WebAuthn): registration, the caller's list, removal, and sign-in."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response

from ...services.passkeys import (
    authentication_options,
    list_passkeys,
    register_passkey,
    registration_options,
    remove_passkey,
    sign_in_with_passkey,
)
from ..serializers import TokenResponseSerializer
from ..serializers.passkeys import (
    PasskeyDeleteSerializer,
    PasskeyLoginBeginSerializer,
    PasskeyLoginChallengeSerializer,
    PasskeyLoginCompleteSerializer,
    PasskeyRegisterSerializer,
    PasskeySerializer,
)
from .base import PublicView, SecureAuthView, no_store, token_response

TAGS = ["passkeys"]


class PasskeyRegisterBeginView(SecureAuthView):
    @extend_schema(
        request=None,
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, "PublicKeyCredentialCreationOptions")},
        tags=TAGS,
    )
    def post(self, request):
        return no_store(Response(registration_options(request.user)))


class PasskeyRegisterCompleteView(SecureAuthView):
    @extend_schema(request=PasskeyRegisterSerializer, responses={201: PasskeySerializer}, tags=TAGS)
    def post(self, request):
        data = self.validated(PasskeyRegisterSerializer, request)
        passkey = register_passkey(
            request.user,
            data["credential"],
            data["name"],
            request.auth.session,
            self.client(request),
        )
        return no_store(Response(PasskeySerializer(passkey).data, status=201))


class PasskeyListView(SecureAuthView):
    @extend_schema(responses={200: PasskeySerializer(many=True)}, tags=TAGS)
    def get(self, request):
        passkeys = list_passkeys(request.user)
        return no_store(Response(PasskeySerializer(passkeys, many=True).data))


class PasskeyDetailView(SecureAuthView):
    @extend_schema(
        request=PasskeyDeleteSerializer,
        responses={
            204: None,
            403: OpenApiResponse(description="reauthentication_required"),
            404: OpenApiResponse(description="not_found"),
        },
        tags=TAGS,
    )
    def delete(self, request, passkey_id: str):
        data = self.validated(PasskeyDeleteSerializer, request)
        remove_passkey(
            request.user,
            passkey_id,
            data.get("password"),
            request.auth.session,
            self.client(request),
        )
        return Response(status=204)


class PasskeyLoginBeginView(PublicView):
    rate_limit_scope = "passkey_login"

    @extend_schema(
        request=PasskeyLoginBeginSerializer,
        responses={200: PasskeyLoginChallengeSerializer},
        tags=TAGS,
    )
    def post(self, request):
        data = self.validated(PasskeyLoginBeginSerializer, request)
        challenge = authentication_options(data.get("email") or None)
        return no_store(Response(PasskeyLoginChallengeSerializer(challenge).data))


class PasskeyLoginCompleteView(PublicView):
    rate_limit_scope = "passkey_login"

    @extend_schema(
        request=PasskeyLoginCompleteSerializer,
        responses={200: TokenResponseSerializer},
        tags=TAGS,
    )
    def post(self, request):
        data = self.validated(PasskeyLoginCompleteSerializer, request)
        issued = sign_in_with_passkey(
            data["challenge_id"],
            data["credential"],
            self.client(request, data["device_name"]),
        )
        return token_response(request, issued)
