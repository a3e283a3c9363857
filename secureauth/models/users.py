"""Per-user security state, loaded in the same query as the user.

``with_security_state(qs, "path__to__user")`` annotates a queryset with the
user's roles (group names), whether MFA is on and whether the email is
verified, as correlated subqueries, so a token response costs no extra query.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Exists, F, OuterRef, Subquery
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from ..conf import app_settings
from .prepared import PreparedLookup, PreparedUpdate, concrete_field

if TYPE_CHECKING:
    from ..types import UserType

_QS = TypeVar("_QS", bound=models.QuerySet[Any])

ROLE_SEPARATOR = "\x1f"


class VerifiedEmail(models.Model):
    """An email address proven to belong to the user (by a link or a trusted provider)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="secureauth_verified_emails",
    )
    email = models.EmailField(max_length=254)
    verified_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "email"], name="secureauth_verified_email_uniq")
        ]

    def __str__(self) -> str:
        return self.email


class RoleNames(models.Aggregate):
    """Group names joined by ROLE_SEPARATOR (GROUP_CONCAT / STRING_AGG)."""

    function = "GROUP_CONCAT"
    template = "%(function)s(%(expressions)s, char(31))"
    output_field = models.TextField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            function="STRING_AGG",
            template="%(function)s(%(expressions)s, chr(31))",
        )

    def as_mysql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="GROUP_CONCAT(%(expressions)s SEPARATOR char(31))"
        )


def _ref(prefix: str, field: str) -> OuterRef:
    return OuterRef(f"{prefix}__{field}" if prefix else field)


def with_security_state(queryset: _QS, prefix: str = "") -> _QS:
    """Annotate what ``SecurityState`` holds (``sa_roles``, ``sa_mfa_enabled``,
    ``sa_email_verified``, ``sa_credential_epoch``) for the user reached through
    ``prefix``: correlated subqueries, so it stays one query."""
    memberships = get_user_model().groups.through.objects
    user_fk = f"{get_user_model()._meta.model_name}_id"
    roles = (
        memberships.filter(**{user_fk: _ref(prefix, "pk")})
        .order_by()
        .values(user_fk)
        .annotate(names=RoleNames("group__name"))
        .values("names")
    )
    email_field = get_user_model().get_email_field_name()
    account = f"{prefix}__secureauth_account" if prefix else "secureauth_account"
    return queryset.annotate(
        sa_roles=Subquery(roles[:1]),
        sa_mfa_enabled=Exists(TOTPDevice.objects.filter(user=_ref(prefix, "pk"), confirmed=True)),
        sa_email_verified=Exists(
            VerifiedEmail.objects.filter(user=_ref(prefix, "pk"), email=_ref(prefix, email_field))
        ),
        sa_credential_epoch=F(f"{account}__credential_epoch"),
    )


def users_with_security_state() -> models.QuerySet[UserType]:
    """All users, each with its security state (``with_security_state``): the base of
    every lookup of a user by email; the same queryset object until settings reload."""
    return app_settings.memo(
        "users_with_security_state",
        lambda: with_security_state(get_user_model()._default_manager.all()),
    )


def users_by_email_key(users: _QS, key: str) -> _QS:
    """The user of ``users`` whose canonical email key is ``key`` (unique: at most one)."""
    return users.filter(secureauth_account__email_key=key)[:1]  # no ORDER BY: a slice


def _email_key_field() -> list[models.Field]:
    from .accounts import Account

    return [concrete_field(Account, "email_key")]


# Compiled once: building and compiling the lookup cost more than running it.
USER_BY_EMAIL_KEY: PreparedLookup[Any] = PreparedLookup(
    "user_by_email_key",
    lambda key: users_by_email_key(users_with_security_state(), key),
    _email_key_field,
)


@dataclass(frozen=True)
class SecurityState:
    """What a request or a token response needs to know about a user, beyond the user
    row: loaded in the same query (``with_security_state``), held by the user object
    (``security_state(user)``)."""

    roles: tuple[str, ...] = ()
    mfa_enabled: bool = False
    email_verified: bool = False
    credential_epoch: int = 0

    @classmethod
    def from_annotations(cls, row: Any) -> SecurityState:
        names = row.sa_roles or ""
        return cls(
            roles=tuple(sorted(n for n in names.split(ROLE_SEPARATOR) if n)),
            mfa_enabled=bool(row.sa_mfa_enabled),
            email_verified=bool(row.sa_email_verified),
            credential_epoch=int(row.sa_credential_epoch or 0),
        )


#: The attribute of a user object that holds its ``SecurityState``.
STATE_ATTRIBUTE = "_secureauth_state"


def attach_security_state(user: UserType, source: Any) -> SecurityState:
    """Give ``user`` the state of ``source`` (a row annotated by ``with_security_state``)."""
    return set_security_state(user, SecurityState.from_annotations(source))


def set_security_state(user: UserType, state: SecurityState) -> SecurityState:
    setattr(user, STATE_ATTRIBUTE, state)
    return state


_LAST_LOGIN = PreparedUpdate("last_login", get_user_model, "pk", "last_login")


def record_last_login(user: UserType, now: datetime) -> None:
    """``last_login`` of a sign-in, written without loading or saving the user."""
    _LAST_LOGIN.run(user.pk, now)


def load_security_state(user: UserType) -> SecurityState:
    """Read the user's state from the database (one query) and attach it."""
    row = with_security_state(get_user_model()._default_manager.filter(pk=user.pk)).get()
    return attach_security_state(user, row)


def security_state(user: UserType) -> SecurityState:
    """The state attached to ``user``, loaded (one query) if it has none yet."""
    state = getattr(user, STATE_ATTRIBUTE, None)
    return state if state is not None else load_security_state(user)


def update_security_state(user: UserType, **changes: Any) -> None:
    """Reflect a change just written (a role, a verified address) in the attached state."""
    state = getattr(user, STATE_ATTRIBUTE, None)
    if state is not None:
        set_security_state(user, replace(state, **changes))
