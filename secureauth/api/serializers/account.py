"""Request validation of the password and email-verification endpoints."""

from __future__ import annotations

from rest_framework import serializers

from .core import EmailField


def password_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(max_length=4096, trim_whitespace=False, write_only=True, **kwargs)


class PasswordChangeSerializer(serializers.Serializer):
    current_password = password_field()
    new_password = password_field(help_text="Checked by the project's password validators.")


class PasswordResetSerializer(serializers.Serializer):
    email = EmailField()


class LinkSerializer(serializers.Serializer):
    """The ``uid`` and ``token`` of a link sent by email."""

    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)


class PasswordResetConfirmSerializer(LinkSerializer):
    new_password = password_field(help_text="Checked by the project's password validators.")


class AcceptedSerializer(serializers.Serializer):
    detail = serializers.CharField()
