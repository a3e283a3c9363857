"""The user admin, extended with the user's sessions and a revoke-all action."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..models import Session
from ..services.roles import revoke_sessions_as_admin
from .base import (
    SessionDisplay,
    admin_client,
    can_revoke,
)

if TYPE_CHECKING:
    # The mixin only ever goes in front of a ModelAdmin (extend_user_admin).
    _UserAdmin = admin.ModelAdmin[Any]
else:
    _UserAdmin = object

REVOKE_ALL = _("Revoke all sessions of selected users")


class SessionInline(SessionDisplay, admin.TabularInline):
    """The user's sessions on the user page, read-only, each with a revoke link."""

    model = Session
    fk_name = "user"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = (
        "device_name",
        "device_type",
        "ip",
        "created_at",
        "last_used_at",
        "status",
        "revoke_link",
    )
    readonly_fields = fields
    verbose_name_plural = _("sessions")
    back_to_user = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.action(description=REVOKE_ALL)
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


class UserSessionsAdminMixin(_UserAdmin):
    """Adds the sessions inline and the "revoke all sessions" action to a user admin.

    SecureAuth mixes it into whatever admin is registered for the user model;
    a project registering its own user admin later can mix it in too."""

    def get_inlines(self, request, obj):
        inlines = list(super().get_inlines(request, obj))
        if obj is not None and SessionInline not in inlines:
            inlines.append(SessionInline)
        return inlines

    def get_actions(self, request):
        # django-stubs wants str-returning actions and str descriptions; Django takes
        # any action and lazy text.
        actions: dict[str, Any] = super().get_actions(request)
        if self.actions is not None and can_revoke(request) and "_popup" not in request.GET:
            name = "revoke_all_sessions"
            actions[name] = (revoke_all_sessions, name, REVOKE_ALL)
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
