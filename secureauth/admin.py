"""Django admin for SecureAuth: sessions, the audit log, read-only security tables.

Every table is read-only. The one write is revocation, and it goes through
``secureauth.services.sessions`` exactly like the API's, so it is audited
(``session_revoked``, reason ``admin``) and signalled. Hashes and secrets are
never displayed.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.contrib.admin.sites import NotRegistered
from django.contrib.admin.utils import flatten, unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .client import ClientInfo, client_ip
from .conf import app_settings
from .constants import Event, RevokeReason
from .models import AuditEvent, MFAChallenge, Passkey, Session, VerifiedEmail
from .services.roles import revoke_sessions_as_admin
from .services.sessions import revoke_session

USER_EMAIL = f"user__{get_user_model().get_email_field_name()}"
TOKENS_SHOWN = 20


def admin_client(request) -> ClientInfo:
    """The admin's own request, recorded on the audit events it causes."""
    meta = request.META
    ip = client_ip(meta.get("REMOTE_ADDR"), meta.get("HTTP_X_FORWARDED_FOR"))
    return ClientInfo(ip=ip, user_agent=meta.get("HTTP_USER_AGENT", "")[:512])


def can_revoke(request) -> bool:
    """Revoking needs the (otherwise unused) permission to change sessions."""
    return request.user.has_perm(f"{Session._meta.app_label}.change_session")


def session_status(session: Session) -> str:
    if session.revoked_at is not None:
        return "revoked"
    now = timezone.now()
    if (
        session.expires_at <= now
        or session.last_used_at <= now - app_settings.REFRESH_TOKEN_LIFETIME
    ):
        return "expired"
    return "active"


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
        now = timezone.now()
        dead = Q(expires_at__lte=now) | Q(
            last_used_at__lte=now - app_settings.REFRESH_TOKEN_LIFETIME
        )
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(dead, revoked_at__isnull=True)
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True).exclude(dead)
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
        return queryset.filter(**{f"{USER_EMAIL}__iexact": value}) if value else queryset

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


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event", "user", "ip", "session_id")
    list_filter = (EventFilter, UserEmailFilter, "created_at")
    list_select_related = ("user",)
    search_fields = (USER_EMAIL,)
    date_hierarchy = "created_at"
    fields = ("event", "created_at", "user", "session", "ip", "user_agent", "details")
    readonly_fields = fields

    @admin.display(description=_("detail"))
    def details(self, obj: AuditEvent) -> str:
        text = json.dumps(obj.detail, indent=2, sort_keys=True, default=str)
        return format_html("<pre>{}</pre>", text)


@admin.register(Passkey)
class PasskeyAdmin(ReadOnlyAdmin):
    list_display = ("name", "user", "created_at", "last_used_at", "backed_up")
    list_select_related = ("user",)
    search_fields = (USER_EMAIL, "name")
    fields = ("user", "name", "aaguid", "transports", "sign_count", "backed_up")
    fields += ("created_at", "last_used_at")


@admin.register(MFAChallenge)
class MFAChallengeAdmin(ReadOnlyAdmin):
    list_display = ("user", "created_at", "expires_at", "attempts", "used_at")
    list_select_related = ("user",)
    search_fields = (USER_EMAIL,)
    fields = ("user", "amr", "ip", "user_agent", "device_name", "created_at", "expires_at")
    fields += ("attempts", "used_at")


@admin.register(VerifiedEmail)
class VerifiedEmailAdmin(ReadOnlyAdmin):
    list_display = ("email", "user", "verified_at")
    list_select_related = ("user",)
    search_fields = ("email", USER_EMAIL)
    fields = ("user", "email", "verified_at")


class SessionInline(SessionDisplay, admin.TabularInline):
    """The user's sessions on the user page, read-only, each with a revoke link."""

    model = Session
    fk_name = "user"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("device_name", "device_type", "ip", "created_at", "last_used_at", "status")
    fields += ("revoke_link",)
    readonly_fields = fields
    verbose_name_plural = _("sessions")
    back_to_user = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.action(description=_("Revoke all sessions of selected users"))
def revoke_all_sessions(modeladmin, request, queryset) -> None:
    client = admin_client(request)
    revoked = sum(
        revoke_sessions_as_admin(user, actor=request.user, client=client) for user in queryset
    )
    modeladmin.message_user(
        request,
        ngettext("Revoked %d session.", "Revoked %d sessions.", revoked) % revoked,
        messages.SUCCESS,
    )


class UserSessionsAdminMixin:
    """Adds the sessions inline and the "revoke all sessions" action to a user admin.

    SecureAuth mixes it into whatever admin is registered for the user model;
    a project registering its own user admin later can mix it in too."""

    def get_inlines(self, request, obj):
        inlines = list(super().get_inlines(request, obj))
        if obj is not None and SessionInline not in inlines:
            inlines.append(SessionInline)
        return inlines

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.actions is not None and can_revoke(request) and "_popup" not in request.GET:
            name = "revoke_all_sessions"
            actions[name] = (revoke_all_sessions, name, revoke_all_sessions.short_description)
        return actions


def extend_user_admin(site: admin.AdminSite = admin.site) -> bool:
    """Re-register the user model's current admin with ``UserSessionsAdminMixin``.

    Leaves the site alone when the user model is not registered (yet) or the
    mixin is already there; returns whether it changed anything."""
    user_model = get_user_model()
    try:
        current = site.get_model_admin(user_model)
    except NotRegistered:
        return False
    if isinstance(current, UserSessionsAdminMixin):
        return False
    base = type(current)
    extended = type(base.__name__, (UserSessionsAdminMixin, base), {"__module__": base.__module__})
    site.unregister(user_model)
    try:
        site.register(user_model, extended)
    except Exception:
        site.register(user_model, base)  # never leave the project without its user admin
        raise
    return True


extend_user_admin()
