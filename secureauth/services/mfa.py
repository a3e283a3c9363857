"""Two-factor authentication with django-otp: an authenticator app (``TOTPDevice``)
and single-use recovery codes (``StaticDevice`` / ``StaticToken``).

Every code check locks the device row (``select_for_update`` inside a transaction),
as django-otp does, so a code is accepted once even when two requests carry it at
the same moment. django-otp's own throttle (``OTP_TOTP_THROTTLE_FACTOR``,
``OTP_STATIC_THROTTLE_FACTOR``) applies: while a device is throttled its checks are
refused with ``RateLimited`` before the code is looked at.
"""

from __future__ import annotations

import logging
import math
from base64 import b32encode
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote, urlencode

import qrcode
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from qrcode.image.svg import SvgPathImage

from ..client import ClientInfo
from ..conf import app_settings
from ..constants import Event
from ..crypto import recovery_code_digest
from ..exceptions import Conflict, MFAInvalid, MFAUnavailable, RateLimited
from ..models import Account, SealedTOTPDevice, Session
from ..models.totp import with_sealed_seed
from ..models.users import load_security_state
from ..races import checkpoint
from ..sealing import KeyringError, SeedUnavailable
from . import audit
from .challenges import (
    challenge_client,
    count_wrong_code,
    find_challenge,
    spend_challenge,
)
from .login import complete_sign_in
from .passwords import check_password_proof
from .sessions import IssuedTokens, record_factor_change
from .verification import require_verified_email, user_email

if TYPE_CHECKING:
    from ..types import UserType

TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
ALREADY_ENABLED = "Two-factor authentication is already enabled; disable it first."
NOT_ENABLED = "Two-factor authentication is not enabled."

logger = logging.getLogger("secureauth")


@dataclass(frozen=True)
class TOTPSetup:
    """What the user needs to add the account to an authenticator app (shown once)."""

    secret: str
    otpauth_uri: str
    qr_svg: str


def otpauth_uri(device: SealedTOTPDevice, account: str) -> str:
    """The Key URI of a TOTP device: label ``issuer:account``, issuer TOTP_ISSUER."""
    issuer = (app_settings.TOTP_ISSUER or "").replace(":", "")
    label = quote(account, safe="")
    params = {
        "secret": b32encode(device.bin_key).decode("ascii"),
        "algorithm": "SHA1",
        "digits": device.digits,
        "period": device.step,
    }
    if issuer:
        label = f"{quote(issuer, safe='')}:{label}"
        params["issuer"] = issuer
    return f"otpauth://totp/{label}?{urlencode(params, quote_via=quote)}"


def qr_svg(data: str) -> str:
    """``data`` as a QR code in SVG, rendered locally (never by a third-party service)."""
    return qrcode.make(data, image_factory=SvgPathImage, border=2).to_string(encoding="unicode")


def normalize_recovery_code(code: str) -> str:
    """Recovery codes are matched without case, spaces or hyphens."""
    return "".join(code.split()).replace("-", "").lower()


def _lock_user(user: UserType) -> None:
    """Serialize the MFA changes of one user (inside ``transaction.atomic``)."""
    Account.objects.lock(user)


def _totp_devices(user: UserType, *, confirmed: bool) -> Any:  # a SealedTOTPDevice queryset
    return SealedTOTPDevice.objects.devices_for_user(user, confirmed=confirmed)


def _verify(device: Any, token: str) -> bool:  # a django-otp Device
    """Check ``token`` on a device the caller has locked. While django-otp throttles the
    device, raise RateLimited (nothing is written, so raising inside a transaction is safe);
    a wrong code is recorded by django-otp, so the caller must commit before raising."""
    allowed, info = device.verify_is_allowed()
    if not allowed:
        locked_until = (info or {}).get("locked_until")
        wait = (locked_until - timezone.now()).total_seconds() if locked_until else 1
        raise RateLimited(math.ceil(wait), "Too many wrong codes. Try again later.")
    device = with_sealed_seed(device)  # one loaded by django-otp reads its sealed seed too
    try:
        return bool(device.verify_token(token))
    except SeedUnavailable as exc:
        # Nothing was written: django-otp reads the key before it records anything.
        logger.error(
            "TOTP device %s of user %s cannot be checked: its seed %s (key id %r).",
            device.pk,
            device.user_id,
            exc.reason,
            exc.key_id,
        )
        raise MFAUnavailable() from exc


def _verify_second_factor(
    user: UserType, code: str | None, recovery_code: str | None
) -> str | None:
    """Check a TOTP code or a recovery code (inside ``transaction.atomic``); returns the
    method that matched, or None. Each code is accepted once."""
    if code is not None:
        device = _totp_devices(user, confirmed=True).select_for_update().first()
        return "totp" if device is not None and _verify(device, code) else None
    if recovery_code is not None:
        stored_form = recovery_code_digest(normalize_recovery_code(recovery_code))
        devices = StaticDevice.objects.devices_for_user(user, confirmed=True).select_for_update()
        for device in devices:
            if _verify(device, stored_form):
                return "recovery_code"
    return None


def verify_second_factor(user: UserType, code: str | None, recovery_code: str | None) -> str | None:
    """Check a TOTP code or a recovery code as proof of the user (each accepted once);
    the method that matched, or None. RateLimited while django-otp throttles it."""
    with transaction.atomic():
        return _verify_second_factor(user, code, recovery_code)


def _replace_recovery_codes(user: UserType) -> list[str]:
    """Void every recovery code of ``user`` and issue RECOVERY_CODE_COUNT new ones."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes: set[str] = set()
    while len(codes) < app_settings.RECOVERY_CODE_COUNT:
        codes.add(StaticToken.random_token())
    StaticToken.objects.bulk_create(
        StaticToken(device=device, token=recovery_code_digest(code)) for code in codes
    )
    return sorted(codes)


def _refuse(
    user: UserType, session: Session | None, client: ClientInfo | None, purpose: str, method: str
) -> NoReturn:
    audit.record_event(
        Event.MFA_FAILED, user=user, session=session, client=client, purpose=purpose, method=method
    )
    raise MFAInvalid()


def is_mfa_enabled(user: UserType) -> bool:
    return _totp_devices(user, confirmed=True).exists()


def begin_totp_setup(user: UserType) -> TOTPSetup:
    """Create an unconfirmed TOTP device (replacing any earlier unconfirmed one) and
    return its secret; Conflict when TOTP is already enabled, EmailUnverified on an
    account whose address is not proven."""
    require_verified_email(user)
    with transaction.atomic():
        _lock_user(user)
        if _totp_devices(user, confirmed=True).exists():
            raise Conflict(ALREADY_ENABLED)
        _totp_devices(user, confirmed=False).delete()
        try:
            device = SealedTOTPDevice.objects.create_sealed(
                user=user, name=TOTP_DEVICE_NAME, confirmed=False, tolerance=1
            )
        except KeyringError as exc:  # secureauth.E070 names it at startup
            logger.error("MFA_ENCRYPTION_KEYS is unusable: %s", exc)
            raise MFAUnavailable("Authenticator apps cannot be set up right now.") from exc
    uri = otpauth_uri(device, user_email(user) or user.get_username())
    return TOTPSetup(b32encode(device.bin_key).decode("ascii"), uri, qr_svg(uri))


def confirm_totp(user: UserType, code: str, *, session: Session, client: ClientInfo) -> list[str]:
    """Enable TOTP once the user proves the app works (a valid code); returns fresh
    recovery codes. Revokes the user's other sessions."""
    require_verified_email(user)
    with transaction.atomic():
        _lock_user(user)
        if _totp_devices(user, confirmed=True).exists():
            raise Conflict(ALREADY_ENABLED)
        device = _totp_devices(user, confirmed=False).select_for_update().order_by("-pk").first()
        if device is None:
            raise Conflict("No authenticator setup is pending; start with mfa/totp/setup/.")
        verified = _verify(device, code)
        if verified:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            codes = _replace_recovery_codes(user)
    if not verified:
        _refuse(user, session, client, "enable", "totp")
    record_factor_change(Event.MFA_ENABLED, user, session, client, method="totp")
    return codes


def regenerate_recovery_codes(
    user: UserType, code: str, *, session: Session, client: ClientInfo
) -> list[str]:
    """New recovery codes (the old ones stop working), against a current TOTP code."""
    with transaction.atomic():
        device = _totp_devices(user, confirmed=True).select_for_update().first()
        if device is None:
            raise Conflict(NOT_ENABLED)
        verified = _verify(device, code)
        if verified:
            codes = _replace_recovery_codes(user)
    if not verified:
        _refuse(user, session, client, "recovery_codes", "totp")
    audit.record_event(Event.RECOVERY_CODES_REGENERATED, user=user, session=session, client=client)
    return codes


def disable_mfa(
    user: UserType,
    *,
    password: str | None,
    code: str | None,
    recovery_code: str | None,
    session: Session,
    client: ClientInfo,
) -> None:
    """Remove every second factor, against the password and a current code (or a
    recovery code); an account without a usable password proves itself with the code
    alone. Revokes the user's other sessions."""
    if not is_mfa_enabled(user):
        raise Conflict(NOT_ENABLED)
    if user.has_usable_password() or password is not None:
        check_password_proof(user, password or "", client)
    with transaction.atomic():
        _lock_user(user)
        method = _verify_second_factor(user, code, recovery_code)
        if method is not None:
            SealedTOTPDevice.objects.filter(user=user).delete()
            StaticDevice.objects.filter(user=user).delete()
    if method is None:
        _refuse(user, session, client, "disable", "totp" if code is not None else "recovery_code")
    record_factor_change(Event.MFA_DISABLED, user, session, client, method=method)


def verify_mfa_sign_in(
    mfa_token: str, *, code: str | None, recovery_code: str | None, client: ClientInfo
) -> IssuedTokens:
    """Finish a sign-in waiting for its second factor: a valid code spends the
    ``mfa_token`` and opens the session (amr + ``otp``) for the device that passed the
    password. A wrong code counts toward MFA_MAX_ATTEMPTS of that token."""
    challenge = find_challenge(mfa_token)
    user = challenge.user
    method_tried = "totp" if code is not None else "recovery_code"
    try:
        with transaction.atomic():
            method = _verify_second_factor(user, code, recovery_code)
            if method is not None:
                # Raising here rolls the code's use back: it stays usable.
                spend_challenge(challenge)
    except RateLimited:
        # A throttled attempt is a refused attempt: it counts toward MFA_MAX_ATTEMPTS.
        count_wrong_code(challenge)
        audit.record_event(
            Event.MFA_FAILED, user=user, client=client, method=method_tried, reason="throttled"
        )
        raise
    if method is None:
        count_wrong_code(challenge)
        _refuse(user, None, client, "sign_in", method_tried)
    checkpoint("mfa.verified")
    load_security_state(user)
    issued = complete_sign_in(
        user,
        # The session opens for the device that passed the password, bound to the
        # DPoP key of this request's proof (mfa/verify/ is a token endpoint).
        replace(challenge_client(challenge), dpop_jkt=client.dpop_jkt),
        [*challenge.amr, "otp"],
        credential_epoch=challenge.credential_epoch,
    )
    audit.record_event(
        Event.MFA_SUCCEEDED, user=user, session=issued.session, client=client, method=method
    )
    return issued
