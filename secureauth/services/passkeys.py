"""Passkeys (WebAuthn): registering, listing, removing, and signing in with them.

Every ceremony starts with a random challenge stored server-side
(``WebAuthnChallenge``) that is single use and expires after
PASSKEY_CHALLENGE_LIFETIME. Verification is done by the ``webauthn`` package
against WEBAUTHN_RP_ID and WEBAUTHN_ORIGINS. User verification (PIN or
biometrics) is required, so a passkey sign-in is multi-factor by itself.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from django.db import IntegrityError, transaction
from django.utils import timezone
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ..client import ClientInfo
from ..conf import app_settings
from ..constants import Event
from ..exceptions import Invalid, InvalidCredentials, NotFound, ReauthenticationRequired
from ..models import Account, Passkey, Session, WebAuthnChallenge
from ..models.passkeys import credential_id_digest
from ..models.users import load_security_state
from . import audit
from .login import complete_sign_in
from .passwords import check_password_proof
from .reauth import Reauthenticated, renew_authentication
from .sessions import IssuedTokens, record_factor_change
from .users import email_field, find_user_by_email
from .verification import ensure_sign_in_allowed, require_verified_email

if TYPE_CHECKING:
    from ..types import UserType

USER_HANDLE_BYTES = 32
MAX_CREDENTIAL_ID_BYTES = 1023  # WebAuthn L3 limit
SIGN_IN_FAILED = "Passkey sign-in failed."


@dataclass(frozen=True)
class LoginChallenge:
    challenge_id: str
    options: dict[str, Any]


def _origins() -> list[str]:
    origins = app_settings.WEBAUTHN_ORIGINS
    return [origins] if isinstance(origins, str) else list(origins)


def _timeout_ms() -> int:
    return int(app_settings.PASSKEY_CHALLENGE_LIFETIME.total_seconds() * 1000)


def _new_challenge(
    purpose: str,
    user: UserType | None = None,
    user_handle: bytes = b"",
    *,
    restricted: bool = False,
) -> WebAuthnChallenge:
    now = timezone.now()
    return WebAuthnChallenge.objects.create(
        purpose=purpose,
        user=user,
        restricted=restricted,
        challenge=secrets.token_bytes(32),
        user_handle=user_handle,
        created_at=now,
        expires_at=now + app_settings.PASSKEY_CHALLENGE_LIFETIME,
    )


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    transports = []
    for value in passkey.transports or []:
        try:
            transports.append(AuthenticatorTransport(value))
        except ValueError:
            continue
    return PublicKeyCredentialDescriptor(id=bytes(passkey.credential_id), transports=transports)


def list_passkeys(user: UserType) -> list[Passkey]:
    """The user's passkeys, newest first."""
    return list(Passkey.objects.of(user))


def registration_options(user: UserType) -> dict[str, Any]:
    """Creation options for a new discoverable passkey; the user's existing
    credentials are excluded so one authenticator is not registered twice. Only on
    an account whose address is verified (EmailUnverified otherwise)."""
    require_verified_email(user)
    handle = Passkey.objects.user_handle_of(user) or secrets.token_bytes(USER_HANDLE_BYTES)
    challenge = _new_challenge(WebAuthnChallenge.REGISTER, user, handle)
    email = getattr(user, email_field(), "") or str(user.pk)
    options = generate_registration_options(
        rp_id=app_settings.WEBAUTHN_RP_ID,
        rp_name=app_settings.WEBAUTHN_RP_NAME,
        user_name=email,
        user_id=handle,
        user_display_name=email,
        challenge=bytes(challenge.challenge),
        timeout=_timeout_ms(),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[_descriptor(p) for p in Passkey.objects.of(user)],
    )
    return options_to_json_dict(options)


def register_passkey(
    user: UserType, credential: dict[str, Any], name: str, session: Session, client: ClientInfo
) -> Passkey:
    """Verify an attestation against the user's pending registration challenge
    (single use) and store the passkey. Adding a factor revokes the user's other
    sessions and is audited."""
    require_verified_email(user)
    try:
        parsed = parse_registration_credential_json(credential)
        sent_challenge = parse_client_data_json(parsed.response.client_data_json).challenge
    except Exception:  # any malformed field: the library raises many types
        raise Invalid("The credential is malformed.")
    now = timezone.now()
    challenge = WebAuthnChallenge.objects.spend_for_user(
        user, sent_challenge, WebAuthnChallenge.REGISTER, now
    )
    if challenge is None:
        raise Invalid("The passkey challenge is unknown, used or expired.")
    try:
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=bytes(challenge.challenge),
            expected_rp_id=app_settings.WEBAUTHN_RP_ID,
            expected_origin=_origins(),
            require_user_verification=True,
        )
    except Exception:
        raise Invalid("The passkey could not be verified.")
    if not hmac.compare_digest(verified.credential_id, parsed.raw_id):
        raise Invalid("The credential id does not match the attested credential.")
    if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
        raise Invalid("The credential id is too long.")
    transports = [t.value for t in (parsed.response.transports or [])]
    try:
        with transaction.atomic():
            passkey = Passkey.objects.create(
                user=user,
                name=(name or "").strip()[:128] or "Passkey",
                credential_id=verified.credential_id,
                credential_id_hash=credential_id_digest(verified.credential_id),
                public_key=verified.credential_public_key,
                user_handle=bytes(challenge.user_handle),
                sign_count=verified.sign_count,
                transports=transports,
                aaguid=verified.aaguid,
                backup_eligible=verified.credential_device_type
                == CredentialDeviceType.MULTI_DEVICE,
                backed_up=verified.credential_backed_up,
                created_at=now,
            )
    except IntegrityError:
        raise Invalid("This passkey is already registered.")
    record_factor_change(
        Event.PASSKEY_ADDED,
        user,
        session,
        client,
        passkey=str(passkey.pk),
        name=passkey.name,
        backup_eligible=passkey.backup_eligible,
    )
    return passkey


def authentication_options(email: str | None, user: UserType | None = None) -> LoginChallenge:
    """Request options for a passkey sign-in, always for discoverable credentials
    (empty allowCredentials): the answer is the same whether or not ``email`` has an
    account or passkeys. With an email, only that account's passkeys may answer the
    challenge (none, when it has no account); with a signed-in ``user`` (a passkey
    re-authentication), only theirs."""
    restricted = user is not None or bool(email)
    if user is None and email:
        found = find_user_by_email(email)
        user = found if found is not None and found.is_active else None
    challenge = _new_challenge(WebAuthnChallenge.LOGIN, user, restricted=restricted)
    options = generate_authentication_options(
        rp_id=app_settings.WEBAUTHN_RP_ID,
        challenge=bytes(challenge.challenge),
        timeout=_timeout_ms(),
        allow_credentials=[],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return LoginChallenge(str(challenge.pk), options_to_json_dict(options))


def _refuse(reason: str, client: ClientInfo, passkey: Passkey | None = None) -> NoReturn:
    user = passkey.user if passkey is not None else None
    detail: dict[str, Any] = {"passkey": str(passkey.pk)} if passkey is not None else {}
    audit.record_event(
        Event.LOGIN_FAILED, user=user, client=client, method="passkey", reason=reason, **detail
    )
    raise InvalidCredentials(SIGN_IN_FAILED)


def amr_for(user_verified: bool, device_type: str) -> list[str]:
    """``hwk`` for a user-verified, device-bound key; ``swk`` for a synced passkey."""
    device_bound = device_type == CredentialDeviceType.SINGLE_DEVICE
    return ["hwk"] if user_verified and device_bound else ["swk"]


def sign_in_with_passkey(
    challenge_id: str,
    credential: dict[str, Any],
    client: ClientInfo,
    reauthenticating: Session | None = None,
) -> IssuedTokens | Reauthenticated:
    """Verify an assertion against a pending login challenge (single use) and open a
    session, or, for a signed-in caller (``reauthenticating``: their session), renew
    that session's ``auth_time`` with one of their own passkeys. The signature counter
    must go up; a regression means a cloned authenticator: refused and audited as
    ``passkey_clone_detected``."""
    now = timezone.now()
    challenge = WebAuthnChallenge.objects.spend(challenge_id, WebAuthnChallenge.LOGIN, now)
    if challenge is None:
        raise Invalid("The passkey challenge is unknown, used or expired.")
    try:
        parsed = parse_authentication_credential_json(credential)
    except Exception:
        raise Invalid("The credential is malformed.")
    passkey = Passkey.objects.with_credential_id(parsed.raw_id)
    if passkey is None:
        _refuse("unknown_credential", client)
    # The epoch the assertion is checked under: a credential change committing while
    # it is verified (a second factor enabled, a reset) leaves this sign-in no session.
    epoch = Account.objects.epoch_of(passkey.user)
    handle = parsed.response.user_handle
    if handle is None and not challenge.restricted:
        _refuse("missing_user_handle", client, passkey)
    if handle is not None and not hmac.compare_digest(handle, bytes(passkey.user_handle)):
        _refuse("user_handle_mismatch", client, passkey)
    if challenge.restricted and challenge.user_id != passkey.user_id:
        _refuse("credential_not_allowed", client, passkey)
    if reauthenticating is not None and passkey.user_id != reauthenticating.user_id:
        _refuse("credential_not_allowed", client, passkey)
    try:
        # A stored count of 0 turns the library's own counter check off: the
        # counter is checked below, after the signature, atomically.
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=bytes(challenge.challenge),
            expected_rp_id=app_settings.WEBAUTHN_RP_ID,
            expected_origin=_origins(),
            credential_public_key=bytes(passkey.public_key),
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except Exception:
        _refuse("verification_failed", client, passkey)
    if not Passkey.objects.record_use(
        passkey, verified.new_sign_count, verified.credential_backed_up, now
    ):
        audit.record_event(
            Event.PASSKEY_CLONE_DETECTED,
            user=passkey.user,
            client=client,
            passkey=str(passkey.pk),
            stored_sign_count=passkey.sign_count,
            received_sign_count=verified.new_sign_count,
        )
        raise InvalidCredentials(SIGN_IN_FAILED)
    user = passkey.user
    if not user.is_active:
        _refuse("inactive_user", client, passkey)
    amr = amr_for(verified.user_verified, verified.credential_device_type)
    if reauthenticating is not None:
        with transaction.atomic():
            return renew_authentication(user, reauthenticating, client, amr[0])
    load_security_state(user)
    ensure_sign_in_allowed(user, client)
    return complete_sign_in(
        user,
        client,
        amr,
        Event.LOGIN_SUCCEEDED,
        credential_epoch=epoch,
        method="passkey",
        passkey=str(passkey.pk),
    )


def _confirm_identity(
    user: UserType, password: str | None, recently_authenticated: bool, client: ClientInfo
) -> None:
    """Removing a passkey needs proof: the current password in the request, or a
    recent authentication (the access token's ``auth_time``)."""
    if password:
        check_password_proof(user, password, client)
        return
    if not recently_authenticated:
        raise ReauthenticationRequired(
            "Send your current password, or reauthenticate, to remove a passkey.",
            max_age=int(app_settings.REAUTH_MAX_AGE.total_seconds()),
        )


def remove_passkey(
    user: UserType,
    passkey_id: str,
    password: str | None,
    session: Session,
    client: ClientInfo,
    *,
    recently_authenticated: bool,
) -> None:
    """Delete one of the user's passkeys after proof of identity. Removing a factor
    revokes the user's other sessions and is audited."""
    passkey = Passkey.objects.own(user, passkey_id)
    if passkey is None:
        raise NotFound("No such passkey.")
    _confirm_identity(user, password, recently_authenticated, client)
    if not Passkey.objects.remove(passkey):
        raise NotFound("No such passkey.")
    record_factor_change(
        Event.PASSKEY_REMOVED, user, session, client, passkey=str(passkey.pk), name=passkey.name
    )
