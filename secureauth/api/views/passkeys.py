"""Passkeys (WebAuthn): registration, the caller's list, removal, and sign-in."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from ...authentication import AccessTokenAuthentication
from ...permissions import HasVerifiedEmail, IsRecentlyAuthenticated
from ...services.passkeys import (
    authentication_options,
    list_passkeys,
    register_passkey,
    registration_options,
    remove_passkey,
    sign_in_with_passkey,
)
from ...services.reauth import is_recently_authenticated
from ..serializers import TokenResponseSerializer
from ..serializers.account import ReauthenticatedSerializer
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
    permission_classes = [IsAuthenticated, IsRecentlyAuthenticated, HasVerifiedEmail]

    @extend_schema(
        request=None,
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, "PublicKeyCredentialCreationOptions")},
        tags=TAGS,
    )
    def post(self, request):
        return no_store(Response(registration_options(request.user)))


class PasskeyRegisterCompleteView(SecureAuthView):
    permission_classes = [IsAuthenticated, IsRecentlyAuthenticated, HasVerifiedEmail]

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
            401: OpenApiResponse(description="reauthentication_required: send the password"),
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
            recently_authenticated=is_recently_authenticated(request.auth.claims),
        )
        return Response(status=204)


class OptionalBearerMixin:
    """A sign-in endpoint that a signed-in caller may also use to re-authenticate:
    an access token, when sent, must be valid and makes it a re-authentication."""

    authentication_classes = [AccessTokenAuthentication]


class PasskeyLoginBeginView(OptionalBearerMixin, PublicView):
    rate_limit_scope = "passkey_login"

    @extend_schema(
        request=PasskeyLoginBeginSerializer,
        responses={200: PasskeyLoginChallengeSerializer},
        tags=TAGS,
    )
    def post(self, request):
        data = self.validated(PasskeyLoginBeginSerializer, request)
        signed_in = request.user if request.auth is not None else None
        challenge = authentication_options(data.get("email") or None, user=signed_in)
        return no_store(Response(PasskeyLoginChallengeSerializer(challenge).data))


class PasskeyLoginCompleteView(OptionalBearerMixin, PublicView):
    rate_limit_scope = "passkey_login"

    @extend_schema(
        request=PasskeyLoginCompleteSerializer,
        responses={
            200: OpenApiResponse(
                TokenResponseSerializer,
                "Tokens; with a Bearer token, a re-authentication: "
                "{access_token, token_type, expires_in, auth_time}",
            )
        },
        tags=TAGS,
    )
    def post(self, request):
        data = self.validated(PasskeyLoginCompleteSerializer, request)
        session = request.auth.session if request.auth is not None else None
        outcome = sign_in_with_passkey(
            data["challenge_id"],
            data["credential"],
            self.client(request, data["device_name"]),
            reauthenticating=session,
        )
        if session is not None:
            return no_store(Response(ReauthenticatedSerializer(outcome).data))
        return token_response(request, outcome)
