"""The MFA challenge: a login that passed its first factor and waits for the second."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from ..client import ClientInfo
from ..conf import app_settings
from ..crypto import hash_token, new_refresh_token
from ..models import MFAChallenge


@dataclass(frozen=True)
class PendingMFA:
    """Answer of a first-factor sign-in for a user with a second factor."""

    mfa_token: str
    methods: list[str]
    expires_in: int


def start_challenge(user, client: ClientInfo, amr: list[str]) -> PendingMFA:
    """Issue a short-lived single-use ``mfa_token`` bound to the user and the device."""
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
        created_at=now,
        expires_at=now + lifetime,
    )
    return PendingMFA(plain, ["totp", "recovery_code"], int(lifetime.total_seconds()))
