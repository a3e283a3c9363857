"""Read-only security tables: audit events, passkeys, MFA challenges, email sign-in
links, verified emails."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..models import AuditEvent, MagicLink, MFAChallenge, Passkey, VerifiedEmail
from .base import (
    USER_EMAIL,
    EventFilter,
    ReadOnlyAdmin,
    UserEmailFilter,
)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event", "user", "ip", "session_id")
    list_filter = (EventFilter, UserEmailFilter, "created_at")
    list_select_related = ("user",)
    search_fields = (USER_EMAIL,)
    date_hierarchy = "created_at"
    fields = ("event", "created_at", "user", "session_reference", "ip", "user_agent", "details")
    readonly_fields = fields

    @admin.display(description=_("session"))
    def session_reference(self, obj: AuditEvent) -> str:
        # The id as recorded: the session itself may have been purged since.
        return str(obj.session_id) if obj.session_id is not None else "-"

    @admin.display(description=_("detail"))
    def details(self, obj: AuditEvent) -> str:
        text = json.dumps(obj.detail, indent=2, sort_keys=True, default=str)
        return format_html("<pre>{}</pre>", text)


@admin.register(Passkey)
class PasskeyAdmin(ReadOnlyAdmin):
    list_display = ("name", "user", "created_at", "last_used_at", "backed_up")
    list_select_related = ("user",)
    search_fields = (USER_EMAIL, "name")
    fields = (
        "user",
        "name",
        "aaguid",
        "transports",
        "sign_count",
        "backed_up",
        "created_at",
        "last_used_at",
    )


@admin.register(MFAChallenge)
class MFAChallengeAdmin(ReadOnlyAdmin):
    list_display = ("user", "created_at", "expires_at", "attempts", "used_at")
    list_select_related = ("user",)
    search_fields = (USER_EMAIL,)
    fields = (
        "user",
        "amr",
        "ip",
        "user_agent",
        "device_name",
        "created_at",
        "expires_at",
        "attempts",
        "used_at",
    )


@admin.register(MagicLink)
class MagicLinkAdmin(ReadOnlyAdmin):
    """Links mailed to addresses no active account has (the stand-ins) have no user."""

    list_display = ("user", "created_at", "expires_at", "used_at")
    list_select_related = ("user",)
    search_fields = (USER_EMAIL,)
    fields = ("user", "device_name", "credential_epoch", "created_at", "expires_at", "used_at")


@admin.register(VerifiedEmail)
class VerifiedEmailAdmin(ReadOnlyAdmin):
    list_display = ("email", "user", "verified_at")
    list_select_related = ("user",)
    search_fields = ("email", USER_EMAIL)
    fields = ("user", "email", "verified_at")
