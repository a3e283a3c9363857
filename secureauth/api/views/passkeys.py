"""Passkeys (WebAuthn): registration, the caller's list, removal, and sign-in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from ...authentication import AccessTokenAuthentication
from ...permissions import HasVerifiedEmail, IsRecentlyAuthenticated
from ...schema import (
    BEARER,
    BODY,
    COOKIE_MODE,
    DPOP_HEADERS,
    DPOP_SIGN_IN,
    ERROR_HEADERS,
    OPTIONAL_BEARER,
    RATE_LIMITED,
    RECENT_AUTH,
    VERIFIED_EMAIL,
    WRONG_PASSWORD,
    errors,
)
from ...services.passkeys import (
    authentication_options,
    list_passkeys,
    register_passkey,
    registration_options,
    remove_passkey,
    sign_in_with_passkey,
)
from ...services.reauth import is_recently_authenticated
from ..serializers.account import ReauthenticatedSerializer
from ..serializers.passkeys import (
    PasskeyDeleteSerializer,
    PasskeyLoginBeginSerializer,
    PasskeyLoginChallengeSerializer,
    PasskeyLoginCompleteSerializer,
    PasskeyRegisterSerializer,
    PasskeySerializer,
    PasskeySignInResponse,
)
from .base import PublicView, SecureAuthView, no_store, token_response

TAGS = ["passkeys"]
PASSKEY_ID = OpenApiParameter(
    "passkey_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The passkey's id."
)


class PasskeyRegisterBeginView(SecureAuthView):
    permission_classes = [IsAuthenticated, IsRecentlyAuthenticated, HasVerifiedEmail]

    @extend_schema(
        operation_id="begin_passkey_registration",
        summary="Start adding a passkey",
        description="Answers the WebAuthn PublicKeyCredentialCreationOptions (JSON, base64url "
        "fields) to pass to `navigator.credentials.create()`, with a single-use challenge "
        "valid PASSKEY_CHALLENGE_LIFETIME. Needs a verified email and a recent "
        "authentication.",
        request=None,
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, "PublicKeyCredentialCreationOptions"),
            **errors(BEARER, RECENT_AUTH, VERIFIED_EMAIL),
        },
        parameters=ERROR_HEADERS,
        tags=TAGS,
    )
    def post(self, request):
        return no_store(Response(registration_options(request.user)))


class PasskeyRegisterCompleteView(SecureAuthView):
    permission_classes = [IsAuthenticated, IsRecentlyAuthenticated, HasVerifiedEmail]

    @extend_schema(
        operation_id="complete_passkey_registration",
        summary="Add a passkey",
        description="Verifies the browser's attestation (the `credential`, as its `toJSON()` "
        "gives it) against the pending challenge and stores the passkey. Every other session "
        "of the user is revoked.",
        request=PasskeyRegisterSerializer,
        responses={
            201: PasskeySerializer,
            **errors(
                BODY,
                {
                    400: [
                        (
                            "invalid",
                            "the credential is malformed, fails verification, answers no "
                            "pending challenge, or is registered already",
                        )
                    ]
                },
                BEARER,
                RECENT_AUTH,
                VERIFIED_EMAIL,
            ),
        },
        parameters=ERROR_HEADERS,
        tags=TAGS,
    )
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
    @extend_schema(
        operation_id="list_passkeys",
        summary="The caller's passkeys",
        description="Each passkey's id, name, and when it was added and last used.",
        responses={200: PasskeySerializer(many=True), **errors(BEARER)},
        parameters=ERROR_HEADERS,
        tags=TAGS,
    )
    def get(self, request):
        passkeys = list_passkeys(request.user)
        return no_store(Response(PasskeySerializer(passkeys, many=True).data))


class PasskeyDetailView(SecureAuthView):
    @extend_schema(
        operation_id="delete_passkey",
        summary="Remove a passkey",
        description="Removes one of the caller's passkeys, against the current `password` in "
        "the body or a recent authentication. Every other session of the user is revoked.",
        request=PasskeyDeleteSerializer,
        responses={
            204: None,
            **errors(
                BODY,
                WRONG_PASSWORD,
                BEARER,
                {
                    401: [
                        (
                            "reauthentication_required",
                            "no password was sent and the authentication is not recent",
                        )
                    ]
                },
                {404: [("not_found", "no such passkey of the caller")]},
                RATE_LIMITED,
            ),
        },
        parameters=[PASSKEY_ID, *ERROR_HEADERS],
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


if TYPE_CHECKING:
    _BearerBase = PublicView  # the mixin goes in front of PublicView
else:
    _BearerBase = object


class OptionalBearerMixin(_BearerBase):
    """A sign-in endpoint that a signed-in caller may also use to re-authenticate:
    an access token, when sent, must be valid and makes it a re-authentication."""

    authentication_classes = [AccessTokenAuthentication]


class PasskeyLoginBeginView(OptionalBearerMixin, PublicView):
    rate_limit_scope = "passkey_login"

    @extend_schema(
        operation_id="begin_passkey_login",
        summary="Start signing in with a passkey",
        description="Answers a `challenge_id` and the WebAuthn PublicKeyCredentialRequestOptions "
        "to pass to `navigator.credentials.get()` (discoverable credentials: the answer is "
        "the same whether or not the email has an account). With an `email`, only that "
        "account's passkeys can answer; with a Bearer token (a re-authentication), only the "
        "caller's. Rate limited per client IP.",
        request=PasskeyLoginBeginSerializer,
        responses={
            200: PasskeyLoginChallengeSerializer,
            **errors(BODY, OPTIONAL_BEARER, RATE_LIMITED),
        },
        parameters=ERROR_HEADERS,
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
        operation_id="complete_passkey_login",
        summary="Sign in with a passkey (or re-authenticate)",
        description="Verifies the browser's assertion (the `credential`) against the challenge "
        "of passkeys/login/begin/ and answers the token response. Sent with a Bearer token, "
        "it is a re-authentication instead: the answer is a new access token for the same "
        "session with a fresh `auth_time`, as reauthenticate/ gives. Rate limited per "
        "client IP.",
        request=PasskeyLoginCompleteSerializer,
        responses={
            200: OpenApiResponse(
                PasskeySignInResponse,
                "The token response; with a Bearer token, the re-authentication's new access "
                "token.",
            ),
            **errors(
                BODY,
                {400: [("invalid", "the credential is malformed or answers no pending challenge")]},
                OPTIONAL_BEARER,
                {
                    401: [("invalid_credentials", "unknown passkey, or its signature fails")],
                    403: [
                        (
                            "permission_denied",
                            "the email is not verified and ALLOW_UNVERIFIED_LOGIN is off",
                        )
                    ],
                },
                RATE_LIMITED,
                DPOP_SIGN_IN,
            ),
        },
        parameters=[COOKIE_MODE, *DPOP_HEADERS, *ERROR_HEADERS],
        tags=TAGS,
    )
    def post(self, request):
        data = self.validated(PasskeyLoginCompleteSerializer, request)
        session = request.auth.session if request.auth is not None else None
        # A sign-in binds its tokens to the DPoP key of its proof; a re-authentication's
        # proof (if any) was the access token's, checked by the authentication already.
        client = (
            self.client(request, data["device_name"])
            if session is not None
            else self.sign_in_client(request, data["device_name"])
        )
        outcome = sign_in_with_passkey(
            data["challenge_id"], data["credential"], client, reauthenticating=session
        )
        if session is not None:
            return no_store(Response(ReauthenticatedSerializer(outcome).data))
        return token_response(request, outcome)
