"""Refresh tokens: only a hash is stored; each row knows its parent in the family."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import models
from django.utils import timezone

from ..crypto import new_child_salt
from .prepared import PreparedLookup
from .users import with_security_state


def _lookup_queryset() -> models.QuerySet[RefreshToken]:
    return with_security_state(
        RefreshToken.objects.select_related("session__user"), "session__user"
    )


# Compiled once: building and compiling this query cost more than running it.
_LOOKUP: PreparedLookup[RefreshToken] = PreparedLookup(
    "refresh_token_lookup",
    lambda value: _lookup_queryset().filter(token_hash=value)[:1],  # no ORDER BY: a slice
    field=lambda: RefreshToken._meta.get_field("token_hash"),
    sample="secureauth-prepared-sample-token-hash",
)


class RefreshTokenQuerySet(models.QuerySet["RefreshToken"]):
    def lookup(self, token_hash: str) -> RefreshToken | None:
        """The token with its session, user and the user's security state, in one query."""
        return _LOOKUP.first(token_hash)

    def claim(self, token: RefreshToken, now: datetime) -> bool:
        """Atomically retire ``token``; True for the single caller that wins the race."""
        return bool(self.filter(pk=token.pk, rotated_at__isnull=True).update(rotated_at=now))

    def child_of(self, token: RefreshToken) -> RefreshToken | None:
        return self.filter(parent=token).first()

    def of_sessions(self, session_pks: Iterable[Any]) -> RefreshTokenQuerySet:
        return self.filter(session_id__in=session_pks)

    def detach_children_of(self, pks: Iterable[Any]) -> None:
        """Clear the ``parent`` of the children of ``pks`` (before deleting them raw)."""
        self.filter(parent_id__in=pks).update(parent=None)

    def purgeable(self, before: datetime) -> RefreshTokenQuerySet:
        """Tokens that can no longer be used nor help detect reuse."""
        return self.filter(expires_at__lt=before)


class RefreshToken(models.Model):
    session = models.ForeignKey(
        "secureauth.Session", on_delete=models.CASCADE, related_name="refresh_tokens"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    # OneToOne: the database itself refuses a second child of one parent.
    parent = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="child"
    )
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    rotated_at = models.DateTimeField(null=True, blank=True)
    # Mixed into the child's derivation: knowing the server key and this token is not
    # enough to compute its child without the database.
    child_salt = models.BinaryField(max_length=16, default=new_child_salt)

    objects = RefreshTokenQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="secureauth_refresh_expires")]

    def __str__(self) -> str:
        return f"refresh token {self.pk} of session {self.session_id}"
