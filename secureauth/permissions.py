"""DRF permission classes for roles (Django groups), permissions and MFA.

Use them as instances, alone or composed with ``&``, ``|`` and ``~``::

    permission_classes = [HasRole("admin") | HasPermission("billing.view_invoice")]
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission, OperationHolderMixin

from .authentication import AccessToken
from .constants import SECOND_FACTOR_METHODS


def user_roles(user) -> set[str]:
    """The user's role names; read from the database (authoritative), once per request."""
    if not getattr(user, "is_authenticated", False):
        return set()
    if not hasattr(user, "sa_roles"):
        user.sa_roles = sorted(user.groups.values_list("name", flat=True))
    return set(user.sa_roles)


class _Instance(OperationHolderMixin, BasePermission):
    """A permission configured by its constructor; DRF 'instantiates' it by calling it."""

    def __call__(self) -> _Instance:
        return self


class HasRole(_Instance):
    """The user has every one of the given roles."""

    def __init__(self, *roles: str) -> None:
        self.roles = set(roles)

    def has_permission(self, request, view) -> bool:
        return self.roles <= user_roles(request.user)


class HasAnyRole(_Instance):
    """The user has at least one of the given roles."""

    def __init__(self, *roles: str) -> None:
        self.roles = set(roles)

    def has_permission(self, request, view) -> bool:
        return bool(self.roles & user_roles(request.user))


class HasPermission(_Instance):
    """The user has the Django permission ``app_label.codename`` (through a role or directly)."""

    def __init__(self, *perms: str) -> None:
        self.perms = perms

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(getattr(user, "is_authenticated", False) and user.has_perms(self.perms))


class IsMFAAuthenticated(BasePermission):
    """The access token was obtained with a second factor (its ``amr``)."""

    def has_permission(self, request, view) -> bool:
        auth = request.auth
        return isinstance(auth, AccessToken) and bool(SECOND_FACTOR_METHODS & set(auth.amr))
