"""Per-user security state, loaded in the same query as the user.

``with_security_state(qs, "path__to__user")`` annotates a queryset with the
user's roles (group names), whether MFA is on and whether the email is
verified, as correlated subqueries, so a token response costs no extra query.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

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


def with_security_state(queryset: models.QuerySet, prefix: str = "") -> models.QuerySet:
    """Annotate ``sa_roles``, ``sa_mfa_enabled`` and ``sa_email_verified``
    for the user reached through ``prefix``."""
    memberships = get_user_model().groups.through.objects
    user_fk = get_user_model()._meta.model_name + "_id"
    roles = (
        memberships.filter(**{user_fk: _ref(prefix, "pk")})
        .order_by()
        .values(user_fk)
        .annotate(names=RoleNames("group__name"))
        .values("names")
    )
    email_field = get_user_model().get_email_field_name()
    return queryset.annotate(
        sa_roles=Subquery(roles[:1]),
        sa_mfa_enabled=Exists(TOTPDevice.objects.filter(user=_ref(prefix, "pk"), confirmed=True)),
        sa_email_verified=Exists(
            VerifiedEmail.objects.filter(user=_ref(prefix, "pk"), email=_ref(prefix, email_field))
        ),
    )


def attach_security_state(user, source) -> None:
    """Copy the annotations of ``source`` (annotated by ``with_security_state``) onto ``user``."""
    names = source.sa_roles or ""
    user.sa_roles = sorted(n for n in names.split(ROLE_SEPARATOR) if n)
    user.sa_mfa_enabled = bool(source.sa_mfa_enabled)
    user.sa_email_verified = bool(source.sa_email_verified)


def load_security_state(user) -> None:
    """For a user loaded without annotations: one query fills in the state."""
    row = with_security_state(get_user_model().objects.filter(pk=user.pk)).get()
    attach_security_state(user, row)
