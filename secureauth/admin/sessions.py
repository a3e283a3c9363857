"""Sessions in the admin: list, filters, and revocation through the service."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..constants import RevokeReason
from ..models import Session
from ..services.sessions import revoke_session
from .base import (
    TOKENS_SHOWN,
    USER_EMAIL,
    ReadOnlyAdmin,
    SessionDisplay,
    SessionStatusFilter,
    admin_client,
    can_revoke,
)


@admin.register(Session)
class SessionAdmin(SessionDisplay, ReadOnlyAdmin):
    list_display = (
        "id",
        "user",
        "device_name",
        "device_type",
        "ip",
        "created_at",
        "last_used_at",
        "status",
    )
    list_filter = (SessionStatusFilter, "device_type", "revoked_reason", "created_at")
    list_select_related = ("user",)
    search_fields = (USER_EMAIL,)
    date_hierarchy = "created_at"
    actions = ("revoke_selected",)
    fields = (
        "user",
        "status",
        "revoke_link",
        ("device_name", "device_type"),
        ("browser", "os"),
        "user_agent",
        "ip",
        "amr",
        ("created_at", "last_used_at", "expires_at"),
        ("revoked_at", "revoked_reason"),
        "refresh_tokens",
    )
    readonly_fields = flatten(fields)

    def has_revoke_permission(self, request) -> bool:
        return can_revoke(request)

    @admin.action(description=_("Revoke selected sessions"), permissions=["revoke"])
    def revoke_selected(self, request, queryset) -> None:
        revoked = 0
        client = admin_client(request)
        for session in queryset.filter(revoked_at__isnull=True).select_related("user"):
            if revoke_session(session, RevokeReason.ADMIN, client=client):
                revoked += 1
                self.log_change(request, session, "Revoked the session.")
        self.message_user(
            request,
            ngettext("Revoked %d session.", "Revoked %d sessions.", revoked) % revoked,
            messages.SUCCESS,
        )

    @admin.display(description=_("refresh tokens (newest first)"))
    def refresh_tokens(self, obj: Session) -> str:
        rows = obj.refresh_tokens.order_by("-issued_at", "-pk").values_list(
            "pk", "issued_at", "expires_at", "rotated_at"
        )[:TOKENS_SHOWN]
        if not rows:
            return "-"
        header = format_html(
            "<tr><th>id</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            _("issued"),
            _("expires"),
            _("rotated"),
        )
        body = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows_display(rows)
        )
        return format_html("<table>{}{}</table>", header, body)

    def get_urls(self):
        revoke = self.admin_site.admin_view(self.revoke_view)
        name = f"{self.opts.app_label}_{self.opts.model_name}_revoke"
        return [path("<path:object_id>/revoke/", revoke, name=name), *super().get_urls()]

    def revoke_view(self, request, object_id: str):
        """Confirm (GET) then revoke (POST) one session, then go back to ``next``."""
        session = self.get_object(request, unquote(object_id))
        if session is None:
            raise Http404(_("No such session."))
        if not can_revoke(request):
            raise PermissionDenied
        next_url = request.POST.get("next") or request.GET.get("next") or ""
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = reverse("admin:secureauth_session_change", args=[session.pk])
        if request.method == "POST":
            if revoke_session(session, RevokeReason.ADMIN, client=admin_client(request)):
                self.log_change(request, session, "Revoked the session.")
                self.message_user(request, _("The session was revoked."), messages.SUCCESS)
            else:
                self.message_user(request, _("The session was already revoked."), messages.INFO)
            return redirect(next_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Revoke session"),
            "session": session,
            "next": next_url,
        }
        return TemplateResponse(
            request, "admin/secureauth/session/revoke_confirmation.html", context
        )


def rows_display(rows):
    for pk, issued, expires, rotated in rows:
        yield pk, issued, expires, rotated or "-"
