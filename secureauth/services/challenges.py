"""The MFA challenge: a login that passed its first factor and waits for the second.

The ``mfa_token`` is a random 256-bit value shown once; only its hash is stored.
It is single use, expires after MFA_TOKEN_LIFETIME and is spent after
MFA_MAX_ATTEMPTS wrong codes. It is never a bearer token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.utils import timezone

from ..client import ClientInfo
from ..conf import app_settings
from ..crypto import hash_token, looks_like_refresh_token, new_refresh_token
from ..exceptions import TokenInvalid
from ..models import Account, MFAChallenge

if TYPE_CHECKING:
    from ..types import UserType

MFA_METHODS = ["totp", "recovery_code"]


@dataclass(frozen=True)
class PendingMFA:
    """Answer of a first-factor sign-in for a user with a second factor."""

    mfa_token: str
    methods: list[str]
    expires_in: int


def start_challenge(
    user: UserType, client: ClientInfo, amr: list[str], *, credential_epoch: int | None = None
) -> PendingMFA:
    """Issue a short-lived single-use ``mfa_token`` bound to the user, the device and
    the credential epoch the first factor was checked under."""
    now = timezone.now()
    plain = new_refresh_token()
    lifetime = app_settings.MFA_TOKEN_LIFETIME
    MFAChallenge.objects.create(
        user=user,
        token_hash=hash_token(plain),
        amr=amr,
        ip=client.ip,
        user_agent=client.user_agent[:512],
        device_name=client.device_name[:128],
        credential_epoch=(
            Account.objects.epoch_of(user) if credential_epoch is None else credential_epoch
        ),
        created_at=now,
        expires_at=now + lifetime,
    )
    return PendingMFA(plain, list(MFA_METHODS), int(lifetime.total_seconds()))


def find_challenge(mfa_token: str) -> MFAChallenge:
    """The pending challenge of an ``mfa_token`` (with its user); TokenInvalid when the
    token is unknown, expired, spent, or its user is disabled."""
    challenge = None
    if looks_like_refresh_token(mfa_token):
        challenge = MFAChallenge.objects.pending(hash_token(mfa_token), timezone.now())
    if challenge is None or not challenge.user.is_active:
        raise TokenInvalid("The MFA token is invalid or has expired; sign in again.")
    return challenge


def spend_challenge(challenge: MFAChallenge) -> None:
    """Use the challenge up; TokenInvalid if another request already did (single use)."""
    if not MFAChallenge.objects.spend(challenge, timezone.now()):
        raise TokenInvalid("The MFA token is invalid or has expired; sign in again.")


def count_wrong_code(challenge: MFAChallenge) -> None:
    """One more wrong code; at MFA_MAX_ATTEMPTS the challenge is spent."""
    MFAChallenge.objects.count_failure(challenge, app_settings.MFA_MAX_ATTEMPTS, timezone.now())


def challenge_client(challenge: MFAChallenge) -> ClientInfo:
    """The device that passed the first factor: the session opens for it."""
    return ClientInfo(
        ip=challenge.ip, user_agent=challenge.user_agent, device_name=challenge.device_name
    )
