"""Request validation of the email sign-in link endpoints."""

from __future__ import annotations

from rest_framework import serializers

from .core import DeviceNameMixin, EmailField


class MagicLinkRequestSerializer(DeviceNameMixin):
    email = EmailField(help_text="The account's email address.")


class MagicLinkConfirmSerializer(serializers.Serializer):
    token = serializers.CharField(
        max_length=128, help_text="The token of the link in the sign-in mail."
    )
