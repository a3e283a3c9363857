"""Administrator endpoints on users: the roles request."""

from __future__ import annotations

from rest_framework import serializers

from ...services.roles import MAX_ROLE_LENGTH

MAX_ROLES = 100


class RoleNameField(serializers.CharField):
    """A role (group) name: a non-empty string, never a number or other JSON value."""

    default_error_messages = {"not_a_string": "A role name must be a string."}

    def __init__(self, **kwargs):
        super().__init__(max_length=MAX_ROLE_LENGTH, allow_blank=False, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class RolesSerializer(serializers.Serializer):
    """``{"roles": [...]}``: the complete set of roles the user should have."""

    roles = serializers.ListField(child=RoleNameField(), allow_empty=True, max_length=MAX_ROLES)
