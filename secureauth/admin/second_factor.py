"""The second factor at the admin sign-in: who needs one, and checking the code.

A user with any confirmed django-otp device needs a one-time code. A code made of
digits is checked on the user's code-generating devices (the authenticator app);
anything else is taken for a recovery code and matched by its keyed hash, the form
SecureAuth stores recovery codes in. As in ``secureauth.services.mfa`` (whose
per-device check this reuses), the device rows are locked while a code is checked,
so a code is accepted once, and django-otp's throttle applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django_otp import devices_for_user
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice

from ..crypto import recovery_code_digest
from ..models.totp import with_sealed_seed
from ..services.mfa import _verify as verify_on_device
from ..services.mfa import normalize_recovery_code

if TYPE_CHECKING:
    from ..types import UserType


def has_second_factor(user: UserType) -> bool:
    """Whether ``user`` has a confirmed device (authenticator app, recovery codes, ...)."""
    return next(iter(devices_for_user(user, confirmed=True)), None) is not None


def verify_one_time_code(user: UserType, code: str) -> Device | None:
    """The confirmed device of ``user`` that accepts ``code``, or None.

    Call inside ``transaction.atomic`` (the rows are locked) and commit before
    refusing, so django-otp keeps its record of the wrong code. Raises
    ``RateLimited`` while django-otp throttles the device."""
    compact = "".join(code.split())
    is_recovery_code = not compact.isdigit()
    token = recovery_code_digest(normalize_recovery_code(code)) if is_recovery_code else compact
    for loaded in devices_for_user(user, confirmed=True, for_verify=True):
        device = with_sealed_seed(loaded)  # the TOTP seed is sealed (secureauth.sealing)
        if isinstance(device, StaticDevice) == is_recovery_code and verify_on_device(device, token):
            return device
    return None
