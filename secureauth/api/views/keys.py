"""JWKS: the public keys other services use to verify access tokens."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from ...tokens import jwks
from .base import PublicView


class JWKSView(PublicView):
    @extend_schema(
        operation_id="get_jwks",
        summary="The public keys that verify access tokens",
        description="A JSON Web Key Set (RFC 7517) with each key's `kid`, for services that "
        'verify access tokens themselves; `{"keys": []}` when tokens are signed with an '
        "HMAC secret. Cacheable for five minutes.",
        responses={
            200: inline_serializer(
                "JWKS", {"keys": serializers.ListField(child=serializers.DictField())}
            )
        },
        auth=[],
        tags=["keys"],
    )
    def get(self, request):
        response = Response(jwks())
        response["Cache-Control"] = "public, max-age=300"
        return response
