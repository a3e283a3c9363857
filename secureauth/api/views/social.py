"""Social login with a provider, and the caller's connected identities."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from ...permissions import HasVerifiedEmail, IsRecentlyAuthenticated
from ...services.social import (
    ProviderCredentials,
    connect_provider,
    disconnect_provider,
    list_connections,
    sign_in_with_provider,
)
from ..serializers import TokenResponseSerializer
from ..serializers.social import SocialAuthSerializer, SocialConnectionSerializer
from .base import PublicView, SecureAuthView, no_store, sign_in_response


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
        request=SocialAuthSerializer,
        responses={
            200: OpenApiResponse(TokenResponseSerializer, "Tokens, or an MFA challenge"),
            400: OpenApiResponse(description="field errors, e.g. a flow this provider refuses"),
            401: OpenApiResponse(description="invalid_credentials: the provider refused"),
            403: OpenApiResponse(description="email_unverified: the provider does not vouch"),
            404: OpenApiResponse(description="not_found: no such provider"),
            409: OpenApiResponse(description="account_exists: sign in and link instead"),
        },
        tags=["social"],
    )
    def post(self, request, backend: str):
        data = self.validated(SocialAuthSerializer, request)
        with flow_field_errors():
            outcome = sign_in_with_provider(
                backend,
                _credentials(data),
                self.client(request, data["device_name"]),
            )
        return sign_in_response(request, outcome)


class SocialConnectView(SecureAuthView):
    permission_classes = [IsAuthenticated, IsRecentlyAuthenticated, HasVerifiedEmail]
    rate_limit_scope = "social_login"

    @extend_schema(
        request=SocialAuthSerializer,
        responses={
            201: SocialConnectionSerializer,
            403: OpenApiResponse(description="email_unverified: verify the account first"),
            409: OpenApiResponse(description="account_exists: linked to another account"),
        },
        tags=["social"],
    )
    def post(self, request, backend: str):
        data = self.validated(SocialAuthSerializer, request)
        with flow_field_errors():
            social = connect_provider(
                request.user, backend, _credentials(data), self.client(request)
            )
        return no_store(Response(SocialConnectionSerializer(social).data, status=201))


class SocialConnectionListView(SecureAuthView):
    @extend_schema(responses={200: SocialConnectionSerializer(many=True)}, tags=["social"])
    def get(self, request):
        connections = list_connections(request.user)
        return no_store(Response(SocialConnectionSerializer(connections, many=True).data))


class SocialConnectionDetailView(SecureAuthView):
    permission_classes = [IsAuthenticated, IsRecentlyAuthenticated]

    @extend_schema(
        responses={
            204: None,
            404: OpenApiResponse(description="not_found"),
            409: OpenApiResponse(description="invalid: the last way to sign in"),
        },
        tags=["social"],
    )
    def delete(self, request, connection_id: str):
        disconnect_provider(request.user, connection_id, self.client(request))
        return Response(status=204)
