"""JWKS: the public keys other services use to verify access tokens."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from ...tokens import jwks
from .base import PublicView


class JWKSView(PublicView):
    @extend_schema(
        responses={
            200: inline_serializer(
                "JWKS", {"keys": serializers.ListField(child=serializers.DictField())}
            )
        },
        tags=["keys"],
    )
    def get(self, request):
        response = Response(jwks())
        response["Cache-Control"] = "public, max-age=300"
        return response
