"""The caller's own security events."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination

from ...schema import BEARER, ERROR_HEADERS, errors
from ...services.audit import events_of
from ..serializers.audit import AuditEventSerializer
from .base import SecureAuthView, no_store


class AuditPagination(PageNumberPagination):
    """``?page=N`` (from 1) and ``?page_size=M`` (default 20, at most 100)."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


AuditPage = inline_serializer(
    "AuditEventPage",
    {
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": AuditEventSerializer(many=True),
    },
)


class AuditView(SecureAuthView):
    pagination_class = AuditPagination

    @extend_schema(
        operation_id="list_audit_events",
        summary="The caller's security events",
        description="The caller's own audit events (sign-ins, failures, password and factor "
        "changes, revocations...), newest first, paginated. When an administrator acted on "
        "the account, their IP and user agent are withheld.",
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT, description="Page number, from 1."),
            OpenApiParameter(
                "page_size", OpenApiTypes.INT, description="Events per page (default 20, max 100)."
            ),
            *ERROR_HEADERS,
        ],
        responses={
            200: AuditPage,
            **errors(BEARER, {404: [("not_found", "no such page")]}),
        },
        tags=["account"],
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(events_of(request.user), request, view=self)
        data = AuditEventSerializer(page, many=True).data
        return no_store(paginator.get_paginated_response(data))
