"""DRF permission classes for roles (Django groups), permissions and MFA.

Use them alone or composed with ``&``, ``|`` and ``~``; the configurable ones
are instances::

    permission_classes = [HasRole("admin") | HasPermission("billing.view_invoice")]
    permission_classes = [IsAuthenticated & IsMFAAuthenticated & ~HasRole("suspended")]

Roles are read from the database (once per request), so a role withdrawn a
moment ago counts at once, whatever the caller's access token still claims.
The token's ``roles`` claim is for other services that authorize without a
database. An anonymous caller is refused with 401, an authenticated one with 403.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rest_framework.permissions import BasePermission, OperationHolderMixin

from .authentication import AccessToken, SecureAuthAPIException
from .constants import SECOND_FACTOR_METHODS
from .exceptions import SecureAuthError
from .models.users import security_state
from .services.reauth import require_recent_authentication
from .services.verification import require_verified_email

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from .types import UserType


def user_roles(user: UserType | AnonymousUser | None) -> set[str]:
    """The user's role names; read from the database (authoritative), once per request.
    ``user`` is DRF's ``request.user`` (None when UNAUTHENTICATED_USER is None)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    return set(security_state(cast("UserType", user)).roles)  # authenticated: a user


class _Instance(OperationHolderMixin, BasePermission):
    """A permission configured by its constructor; DRF 'instantiates' it by calling it.

    Object-level checks give the same answer as the view-level one, so ``~`` does
    not turn DRF's default ``has_object_permission() -> True`` into a blanket refusal.
    """

    def __call__(self) -> _Instance:
        return self

    def has_object_permission(self, request, view, obj) -> bool:
        return self.has_permission(request, view)


def _names(kind: str, values: tuple[str, ...]) -> tuple[str, ...]:
    if not values or not all(isinstance(v, str) and v for v in values):
        raise TypeError(f"{kind} needs one or more non-empty names")
    return values


class HasRole(_Instance):
    """The user has every one of the given roles."""

    def __init__(self, *roles: str) -> None:
        self.roles = frozenset(_names("HasRole", roles))
        self.message = f"This action requires the role(s): {', '.join(sorted(self.roles))}."

    def has_permission(self, request, view) -> bool:
        return self.roles <= user_roles(request.user)

    def __repr__(self) -> str:
        return f"HasRole({', '.join(map(repr, sorted(self.roles)))})"


class HasAnyRole(_Instance):
    """The user has at least one of the given roles."""

    def __init__(self, *roles: str) -> None:
        self.roles = frozenset(_names("HasAnyRole", roles))
        self.message = f"This action requires one of the roles: {', '.join(sorted(self.roles))}."

    def has_permission(self, request, view) -> bool:
        return bool(self.roles & user_roles(request.user))

    def __repr__(self) -> str:
        return f"HasAnyRole({', '.join(map(repr, sorted(self.roles)))})"


class HasPermission(_Instance):
    """The user has every Django permission ``app_label.codename`` given (through a
    role, directly, or as superuser)."""

    def __init__(self, *perms: str) -> None:
        self.perms = _names("HasPermission", perms)

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(getattr(user, "is_authenticated", False) and user.has_perms(self.perms))

    def __repr__(self) -> str:
        return f"HasPermission({', '.join(map(repr, self.perms))})"


class IsMFAAuthenticated(_Instance):
    """The access token was obtained with a second factor (its ``amr`` holds one of
    ``otp``, ``hwk``, ``swk``, ``mfa``). Usable as a class or an instance."""

    message = "This action requires signing in with a second factor."

    def has_permission(self, request, view) -> bool:
        auth = request.auth
        return isinstance(auth, AccessToken) and bool(SECOND_FACTOR_METHODS & set(auth.amr))


class IsRecentlyAuthenticated(BasePermission):
    """The access token's ``auth_time`` is within REAUTH_MAX_AGE; otherwise 401
    ``reauthentication_required`` with the RFC 9470 challenge (the client calls
    ``reauthenticate/`` and retries with the new access token)."""

    def has_permission(self, request, view) -> bool:
        access = request.auth
        if not isinstance(access, AccessToken):
            return False
        try:
            require_recent_authentication(access.claims)
        except SecureAuthError as error:
            raise SecureAuthAPIException(error)
        return True


class HasVerifiedEmail(BasePermission):
    """The caller's email is verified; otherwise 403 ``email_unverified`` (an account
    whose address is unproven gains no other way to sign in)."""

    def has_permission(self, request, view) -> bool:
        if not getattr(request.user, "is_authenticated", False):
            return False
        try:
            require_verified_email(request.user)
        except SecureAuthError as error:
            raise SecureAuthAPIException(error)
        return True
