"""Refresh tokens: only a hash is stored; each row knows its parent in the family."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import models
from django.utils import timezone

from ..crypto import new_child_salt
from .prepared import PreparedInsert, PreparedLookup
from .users import with_security_state


def _lookup_queryset() -> models.QuerySet[RefreshToken]:
    return with_security_state(
        RefreshToken.objects.select_related("session__user"), "session__user"
    )


# Compiled once: building and compiling this query cost more than running it.
_LOOKUP: PreparedLookup[RefreshToken] = PreparedLookup(
    "refresh_token_lookup",
    lambda digest: _lookup_queryset().filter(token_hash=digest)[:1],  # no ORDER BY: a slice
    lambda: [RefreshToken._meta.get_field("token_hash")],
)


_INSERT: PreparedInsert[RefreshToken] = PreparedInsert(lambda: RefreshToken)


class RefreshTokenQuerySet(models.QuerySet["RefreshToken"]):
    def issue(
        self,
        session: Any,
        digest: bytes,
        issued_at: datetime,
        expires_at: datetime,
        parent: RefreshToken | None = None,
    ) -> RefreshToken:
        """A new token row of ``session`` (a sign-in's first, or ``parent``'s child)."""
        return _INSERT.create(
            session=session,
            token_hash=digest,
            parent=parent,
            issued_at=issued_at,
            expires_at=expires_at,
        )

    def lookup(self, digest: bytes) -> RefreshToken | None:
        """The token whose ``token_digest`` is ``digest``, with its session, user and the
        user's security state, in one query."""
        return _LOOKUP.first(digest)

    def claim(self, token: RefreshToken, now: datetime) -> bool:
        """Atomically retire ``token``; True for the single caller that wins the race."""
        return bool(self.filter(pk=token.pk, rotated_at__isnull=True).update(rotated_at=now))

    def child_of(self, token: RefreshToken) -> RefreshToken | None:
        return self.filter(parent=token).first()

    def of_sessions(self, session_pks: Iterable[Any]) -> RefreshTokenQuerySet:
        return self.filter(session_id__in=session_pks)

    def purgeable(self, before: datetime) -> RefreshTokenQuerySet:
        """Tokens that can no longer be used nor help detect reuse."""
        return self.filter(expires_at__lt=before)

    def still_kept(self, before: datetime) -> RefreshTokenQuerySet:
        """The tokens ``purgeable(before)`` leaves."""
        return self.filter(expires_at__gte=before)


class RefreshToken(models.Model):
    session = models.ForeignKey(
        "secureauth.Session", on_delete=models.CASCADE, related_name="refresh_tokens"
    )
    #: ``crypto.token_digest`` of the token: 32 raw bytes, one unique index.
    token_hash = models.BinaryField(max_length=32, unique=True)
    # OneToOne: the database itself refuses a second child of one parent. The id of
    # the token this one was rotated from, kept as a plain value: the cleanup deletes
    # expired parents without rewriting their children, so it may name a token that
    # is gone (ids are never reused). Only ``child_of`` follows the link, from the
    # parent, which must exist to be presented.
    parent = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="child",
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
