"""Email sign-in links ("magic links"): a single-use link mailed to the address signs
its reader in.

Design: the token is 256 random bits shown once (in the mail); only its SHA-256 is
stored, in a ``MagicLink`` row. A row, rather than a stateless signed token, because
the rules are all about state: single use (a conditional update decides the one
winner of concurrent confirms), a newer link voiding older ones, and a credential
change voiding pending links; a signed token would need a database row for each of
these anyway, and would put the account id in the link. The row stores a keyed hash
of the address, not the address.

- Requesting a link does the same work whether or not an active account has the
  address: one lookup, one token, one row (a stand-in row nobody can use for an
  unknown address), one audit row; the mail is rendered and sent after the response.
- A link lives MAGIC_LINK_LIFETIME, works once, is voided by a newer link for the
  same address, by a change of the account's address, and by a credential change
  (password changed or reset, a second factor added or removed) since it was mailed.
- Using it proves the address (it is marked verified), then signs in through the
  same path as a password: ``complete_sign_in`` (amr ``["email"]``, credential
  epoch, new-device notice), or the MFA challenge for a user with a second factor.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from ..client import ClientInfo
from ..conf import app_settings
from ..constants import Event
from ..crypto import hash_token, keyed_digest, looks_like_refresh_token, new_refresh_token
from ..exceptions import LinkTokenExpired, LinkTokenInvalid
from ..mail import send_template_after_commit
from ..models import Account, MagicLink
from ..models.accounts import email_key_of
from ..models.users import load_security_state, security_state
from ..races import checkpoint
from ..throttling import enforce_key_rate
from . import audit
from .challenges import PendingMFA, start_challenge
from .login import complete_sign_in
from .notifications import lifetime_text
from .sessions import IssuedTokens
from .users import find_user_by_email
from .verification import ensure_sign_in_allowed, mark_email_verified, user_email

if TYPE_CHECKING:
    from ..types import UserType

AMR = ["email"]
INVALID_LINK = "This sign-in link is invalid or was already used; ask for a new one."
EXPIRED_LINK = "This sign-in link has expired; ask for a new one."


def address_digest(email: str) -> str:
    """The keyed hash a link row holds of its address (its canonical key); "" for an
    address with no canonical form."""
    key = email_key_of(email)
    return keyed_digest("magic-link-address", key).hex() if key else ""


def magic_link_url(token: str) -> str:
    """The link for the mail, from MAGIC_LINK_URL (never from the request's Host)."""
    return app_settings.MAGIC_LINK_URL.format(
        frontend=app_settings.FRONTEND_URL.rstrip("/"), token=token
    )


def request_magic_link(email: str, client: ClientInfo) -> None:
    """Mail a sign-in link if an active account has this address; otherwise do the same
    work for nothing, so neither the answer nor its timing tells the two apart. Limited
    per address (RATE_LIMITS["magic_link_email"]) whether or not it is known."""
    digest = address_digest(email)
    enforce_key_rate("magic_link_email", f"address:{digest}")
    user = find_user_by_email(email)
    known = user is not None and user.is_active
    # The epoch comes with the lookup (the state it loads), so knowing it costs nothing.
    epoch = security_state(user).credential_epoch if known and user is not None else 0
    plain = new_refresh_token()
    link = magic_link_url(plain)
    now = timezone.now()
    lifetime = app_settings.MAGIC_LINK_LIFETIME
    with transaction.atomic():
        MagicLink.objects.issue(
            address_digest=digest,
            user=user if known else None,
            token_hash=hash_token(plain),
            device_name=client.device_name[:128],
            credential_epoch=epoch,
            now=now,
            expires_at=now + lifetime,
        )
        # Rendered either way, sent only to an account's address (after the response).
        to = user_email(user) if known and user is not None else email
        context = {
            "user": user if known else None,
            "link": link,
            "lifetime": lifetime_text(lifetime),
        }
        send_template_after_commit("magic_link", to, context, deliver=known)
        audit.record_event(
            Event.MAGIC_LINK_REQUESTED, user=user if known else None, client=client, known=known
        )


def find_link(token: str) -> MagicLink:
    """The pending link of ``token`` (with its user): LinkTokenInvalid when the token is
    unknown, used, voided or its account disabled; LinkTokenExpired past its lifetime."""
    link = MagicLink.objects.lookup(hash_token(token)) if looks_like_refresh_token(token) else None
    if link is None or link.user is None or not link.user.is_active or link.used_at is not None:
        raise LinkTokenInvalid(INVALID_LINK)
    if link.expires_at <= timezone.now():
        raise LinkTokenExpired(EXPIRED_LINK)
    if MagicLink.objects.has_newer(link):
        raise LinkTokenInvalid(INVALID_LINK)
    return link


def _spend(link: MagicLink, user: UserType, client: ClientInfo) -> str | None:
    """Use the link up and record what it proved, once; None when it was spent here,
    else why it was refused. The account row is locked, so a credential change commits
    either before (and is seen here) or after (and ``complete_sign_in`` sees it)."""
    with transaction.atomic():
        account = Account.objects.lock(user)
        if account.credential_epoch != link.credential_epoch:
            return "credentials_changed"  # since the link was mailed
        if address_digest(user_email(user)) != link.address_digest:
            return "email_changed"  # the link went to an address the account left
        if not MagicLink.objects.spend(link, timezone.now()):
            return "link_used"  # another request used it first
        mark_email_verified(user, client, via="magic_link")
        audit.record_event(Event.MAGIC_LINK_USED, user=user, client=client, link=str(link.pk))
    return None


def confirm_magic_link(token: str, client: ClientInfo) -> IssuedTokens | PendingMFA:
    """Exchange a link's token, once, for a session (amr ``["email"]``), or for the MFA
    challenge when the user has a second factor. Using the link proves the address.
    Limited per address (RATE_LIMITS["magic_link_confirm"]) on top of the per-IP limit.
    The session opens for the confirming client, named as asked when the link was."""
    link = find_link(token)
    enforce_key_rate("magic_link_confirm", f"address:{link.address_digest}")
    checkpoint("magic_link.read")
    user = link.user
    assert user is not None  # find_link refuses stand-in rows
    refusal = _spend(link, user, client)
    if refusal is not None:
        audit.record_event(
            Event.LOGIN_FAILED, user=user, client=client, method="magic_link", reason=refusal
        )
        raise LinkTokenInvalid(INVALID_LINK)
    state = load_security_state(user)  # after the address was marked verified
    ensure_sign_in_allowed(user, client)
    device = replace(client, device_name=link.device_name)  # and its DPoP key, if any
    epoch = link.credential_epoch
    if state.mfa_enabled:
        return start_challenge(user, device, amr=list(AMR), credential_epoch=epoch)
    return complete_sign_in(user, device, list(AMR), credential_epoch=epoch, method="magic_link")
