"""Social login with a provider, and the caller's connected identities."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from ...permissions import HasVerifiedEmail, IsRecentlyAuthenticated
from ...schema import (
    BEARER,
    BODY,
    COOKIE_MODE,
    DPOP_HEADERS,
    DPOP_SIGN_IN,
    ERROR_HEADERS,
    RATE_LIMITED,
    RECENT_AUTH,
    VERIFIED_EMAIL,
    errors,
)
from ...services.social import (
    ProviderCredentials,
    connect_provider,
    disconnect_provider,
    list_connections,
    sign_in_with_provider,
)
from ..serializers.core import SignInResponse
from ..serializers.social import SocialAuthSerializer, SocialConnectionSerializer
from .base import PublicView, SecureAuthView, no_store, sign_in_response

BACKEND = OpenApiParameter(
    "backend",
    str,
    OpenApiParameter.PATH,
    description="The name of a social-auth backend the project enables, e.g. "
    "`google-oauth2`, `github`, `oidc`.",
)
#: What a provider's answer can be refused for, at sign-in and at linking.
PROVIDER_ERRORS = {
    400: [("invalid", "a flow or credential this backend does not accept")],
    401: [("invalid_credentials", "the provider refused the credentials")],
    404: [("not_found", "no such backend")],
    503: [("service_unavailable", "the provider cannot be reached or is not configured")],
}


def _credentials(data: dict) -> ProviderCredentials:
    return ProviderCredentials(
        access_token=data.get("access_token", ""),
        code=data.get("code", ""),
        redirect_uri=data.get("redirect_uri", ""),
        code_verifier=data.get("code_verifier", ""),
        state=data.get("state", ""),
        nonce=data.get("nonce", ""),
        id_token=data.get("id_token", ""),
    )


@contextmanager
def flow_field_errors() -> Iterator[None]:
    """A flow the backend does not accept (``secureauth.social.flows``) is a 400 field error."""
    try:
        yield
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict)


class SocialLoginView(PublicView):
    rate_limit_scope = "social_login"

    @extend_schema(
        operation_id="social_login",
        summary="Sign in with a social provider",
        description="Takes the provider's `access_token` (where the server can check it was "
        "issued to this application; with `id_token` and `nonce` for OpenID Connect), or an "
        "authorization `code` with its `redirect_uri` and PKCE `code_verifier`. Answers the "
        "token response, or the MFA challenge for a user with a second factor. A new account "
        "is created only for an email the provider asserts verified; an existing account is "
        "linked automatically only when that holds and it has no usable password. Rate "
        "limited per client IP.",
        request=SocialAuthSerializer,
        responses={
            200: OpenApiResponse(SignInResponse, "The token response, or the MFA challenge."),
            **errors(
                BODY,
                PROVIDER_ERRORS,
                {
                    403: [
                        ("email_unverified", "the provider does not vouch for the email"),
                        (
                            "permission_denied",
                            "the email is not verified and ALLOW_UNVERIFIED_LOGIN is off",
                        ),
                    ],
                    409: ["account_exists"],
                },
                RATE_LIMITED,
                DPOP_SIGN_IN,
            ),
        },
        parameters=[BACKEND, COOKIE_MODE, *DPOP_HEADERS, *ERROR_HEADERS],
        auth=[],
        tags=["social"],
    )
    def post(self, request, backend: str):
        data = self.validated(SocialAuthSerializer, request)
        with flow_field_errors():
            outcome = sign_in_with_provider(
                backend,
                _credentials(data),
                self.sign_in_client(request, data["device_name"]),
            )
        return sign_in_response(request, outcome)


class SocialConnectView(SecureAuthView):
    permission_classes = [IsAuthenticated, IsRecentlyAuthenticated, HasVerifiedEmail]
    rate_limit_scope = "social_login"

    @extend_schema(
        operation_id="connect_social_provider",
        summary="Link a social identity to the caller",
        description="Takes the provider's credentials as social/<backend>/ does and links that "
        "identity to the caller's account (idempotent for an identity already theirs). Needs "
        "a verified email and a recent authentication.",
        request=SocialAuthSerializer,
        responses={
            201: SocialConnectionSerializer,
            **errors(
                BODY,
                BEARER,
                RECENT_AUTH,
                PROVIDER_ERRORS,
                VERIFIED_EMAIL,
                {409: [("account_exists", "the identity is linked to another account")]},
                RATE_LIMITED,
            ),
        },
        parameters=[BACKEND, *ERROR_HEADERS],
        tags=["social"],
    )
    def post(self, request, backend: str):
        data = self.validated(SocialAuthSerializer, request)
        with flow_field_errors():
            social = connect_provider(
                request.user,
                backend,
                _credentials(data),
                self.client(request),
                request.auth.session,
            )
        return no_store(Response(SocialConnectionSerializer(social).data, status=201))


class SocialConnectionListView(SecureAuthView):
    @extend_schema(
        operation_id="list_social_connections",
        summary="The caller's linked social identities",
        description="Each linked identity's id, provider, the provider's user id and when it "
        "was linked.",
        responses={200: SocialConnectionSerializer(many=True), **errors(BEARER)},
        parameters=ERROR_HEADERS,
        tags=["social"],
    )
    def get(self, request):
        connections = list_connections(request.user)
        return no_store(Response(SocialConnectionSerializer(connections, many=True).data))


class SocialConnectionDetailView(SecureAuthView):
    permission_classes = [IsAuthenticated, IsRecentlyAuthenticated]

    @extend_schema(
        operation_id="disconnect_social_provider",
        summary="Unlink a social identity",
        description="Unlinks one of the caller's identities, unless it is their last way to "
        "sign in (no usable password, passkey or other identity). Needs a recent "
        "authentication.",
        responses={
            204: None,
            **errors(
                BEARER,
                RECENT_AUTH,
                {
                    404: [("not_found", "no such identity of the caller")],
                    409: [("invalid", "this identity is the last way to sign in")],
                },
            ),
        },
        parameters=[
            OpenApiParameter(
                "connection_id",
                str,
                OpenApiParameter.PATH,
                description="The connection's id.",
            ),
            *ERROR_HEADERS,
        ],
        tags=["social"],
    )
    def delete(self, request, connection_id: str):
        disconnect_provider(request.user, connection_id, self.client(request), request.auth.session)
        return Response(status=204)
