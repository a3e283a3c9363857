"""Shared pieces of the SecureAuth admin: read-only base, filters, session display."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from ..adapter import get_adapter
from ..client import ClientInfo
from ..constants import Event
from ..models import Session
from ..models.accounts import email_key_of

USER_EMAIL = f"user__{get_user_model().get_email_field_name()}"
TOKENS_SHOWN = 20


def admin_client(request) -> ClientInfo:
    """The admin's own request, recorded on the audit events it causes."""
    return ClientInfo(
        ip=get_adapter().client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:512],
    )


def can_revoke(request) -> bool:
    """Revoking needs the (otherwise unused) permission to change sessions."""
    return request.user.has_perm(f"{Session._meta.app_label}.change_session")


def session_status(session: Session) -> str:
    if session.revoked_at is not None:
        return "revoked"
    return "active" if session.is_active() else "expired"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable by staff with view permission; nobody adds, edits or deletes."""

    show_full_result_count = False  # no COUNT(*) of a large table on every page

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class SessionStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", _("Active")), ("revoked", _("Revoked")), ("expired", _("Expired"))]

    def queryset(self, request, queryset):
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.expired()
        if self.value() == "active":
            return queryset.active()
        return queryset


class EventFilter(admin.SimpleListFilter):
    title = _("event")
    parameter_name = "event"

    def lookups(self, request, model_admin):
        return Event.choices

    def queryset(self, request, queryset):
        return queryset.filter(event=self.value()) if self.value() else queryset


class UserEmailFilter(admin.SimpleListFilter):
    """A text box (not a list of every user) filtering on the user's exact email."""

    title = _("user email")
    parameter_name = "user_email"
    template = "admin/secureauth/input_filter.html"

    def lookups(self, request, model_admin):
        return ()

    def has_output(self) -> bool:
        return True

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        if not value:
            return queryset
        # The canonical key, as every lookup by email (another spelling finds the same).
        return queryset.filter(user__secureauth_account__email_key=email_key_of(value))

    def choices(self, changelist):
        name = self.parameter_name
        yield {
            "parameter": name,
            "value": self.value() or "",
            "hidden": [(k, v) for k, v in changelist.params.items() if k != name],
            "clear_url": changelist.get_query_string(remove=[name]),
        }


class SessionDisplay:
    """Columns shared by the session admin and the inline on the user page."""

    @admin.display(description=_("status"))
    def status(self, obj: Session) -> str:
        status = session_status(obj)
        if status == "revoked" and obj.revoked_reason:
            return f"revoked ({obj.get_revoked_reason_display()})"
        return status

    back_to_user = False  # where the revoke page returns: the session, or its user

    @admin.display(description=_("revoke"))
    def revoke_link(self, obj: Session) -> str:
        if obj.pk is None or obj.revoked_at is not None:
            return "-"
        try:
            url = reverse("admin:secureauth_session_revoke", args=[obj.pk])
            if self.back_to_user:
                opts = get_user_model()._meta
                back = reverse(
                    f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.user_id]
                )
                url = f"{url}?{urlencode({'next': back})}"
        except NoReverseMatch:  # the session admin is not on the default site
            return "-"
        return format_html('<a class="deletelink" href="{}">{}</a>', url, _("Revoke"))
