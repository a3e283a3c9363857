"""Email sign-in links: one row per link mailed, holding only a hash of its token."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from ..types import UserType


class MagicLinkQuerySet(models.QuerySet["MagicLink"]):
    def issue(
        self,
        *,
        address_digest: str,
        user: UserType | None,
        token_hash: str,
        device_name: str,
        credential_epoch: int,
        now: datetime,
        expires_at: datetime,
    ) -> MagicLink:
        """Record a new link for the address (``user`` None: a stand-in for an address no
        active account has, which nobody can use) and void its pending older ones. The
        same two statements whichever it is, so the answer takes the same time."""
        self.filter(address_digest=address_digest, used_at__isnull=True).update(used_at=now)
        return self.create(
            address_digest=address_digest,
            user=user,
            token_hash=token_hash,
            device_name=device_name,
            credential_epoch=credential_epoch,
            created_at=now,
            expires_at=expires_at,
        )

    def lookup(self, token_hash: str) -> MagicLink | None:
        """The link with this token hash and its user (one query), used or not."""
        rows = list(self.select_related("user").filter(token_hash=token_hash)[:1])
        return rows[0] if rows else None

    def has_newer(self, link: MagicLink) -> bool:
        """Whether a link was issued for the same address after ``link`` (it then is void,
        even if two requests raced and neither voided the other)."""
        return self.filter(address_digest=link.address_digest, pk__gt=link.pk).exists()

    def spend(self, link: MagicLink, now: datetime) -> bool:
        """Mark the link used; True only for the single caller that wins."""
        return bool(self.filter(pk=link.pk, used_at__isnull=True).update(used_at=now))

    def purgeable(self, now: datetime) -> MagicLinkQuerySet:
        """Used (or voided) links, and those past their expiry."""
        return self.filter(models.Q(used_at__isnull=False) | models.Q(expires_at__lt=now))


class MagicLink(models.Model):
    """A single-use sign-in link mailed to an address.

    ``address_digest`` is a keyed hash of the address's canonical key (so the table
    names no address, and links to an address no account has look like the others);
    ``credential_epoch`` is the account's epoch when the link was mailed: a credential
    change since then voids it. ``used_at`` is set when the link is used or voided by a
    newer one."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    address_digest = models.CharField(max_length=64)
    token_hash = models.CharField(max_length=64)
    device_name = models.CharField(max_length=128, blank=True)
    credential_epoch = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    objects = MagicLinkQuerySet.as_manager()

    # Indexes and unique constraints in Meta, not on the field: an indexed CharField
    # gets a second, ``varchar_pattern_ops`` index on PostgreSQL that no exact lookup uses.
    class Meta:
        indexes = [models.Index(fields=["address_digest"], name="secureauth_magiclink_address")]
        constraints = [
            models.UniqueConstraint(fields=["token_hash"], name="secureauth_magiclink_token")
        ]

    def __str__(self) -> str:
        return f"email sign-in link {self.pk}"
