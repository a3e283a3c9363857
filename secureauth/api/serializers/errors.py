"""The contract's error bodies, as the OpenAPI schema describes them.

``secureauth.api.exception_handler`` writes them; these classes only give them a name
and a shape in the schema (``secureauth.schema`` documents, per operation, which
codes each status can carry).
"""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """Any error but field validation: a message for people, a code for programs."""

    detail = serializers.CharField(
        help_text="What went wrong, for people (its wording may change: read `code`)."
    )
    code = serializers.CharField(
        help_text="The machine code; each response of each operation lists the codes it uses."
    )


class FieldErrorsSerializer(serializers.Serializer):
    """A 400 on field validation, DRF's shape: each refused field (or
    ``non_field_errors``) maps to its messages; a list field's items are keyed by their
    index. Its schema is written by ``secureauth.schema.FieldErrorsSchema``."""


#: A 400: field errors, or an error with its code (an unreadable body, a refused request).
BAD_REQUEST = PolymorphicProxySerializer(
    component_name="BadRequest",
    serializers=[FieldErrorsSerializer, ErrorSerializer],
    resource_type_field_name=None,
)
