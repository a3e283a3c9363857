"""TOTP seeds sealed at rest (MFA_ENCRYPTION_KEYS): the seed is nowhere in the
database, devices keep verifying through a key rotation, and a seed that cannot be
opened fails closed (503, nothing counted) instead of a 500 or a code accepted."""

from __future__ import annotations

import base64
import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from secureauth.models import MFAChallenge, SealedTOTPDevice, TOTPSecret
from secureauth.sealing import derive_key, generate_key, key_id
from tests.conftest import PASSWORD, login, secureauth_settings
from tests.test_mfa import Authenticator, amr, verify

OLD_KEY = generate_key()
NEW_KEY = generate_key()


def run_rotation(*args: str) -> str:
    out = StringIO()
    call_command("secureauth_rotate_mfa_keys", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def sign_in(email: str) -> APIClient:
    client = APIClient()
    tokens = login(client, email)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    return client


def with_totp(make_user, email: str) -> tuple[Authenticator, list[str], str]:
    """A user with TOTP enabled through the API: (phone, recovery codes, the secret)."""
    make_user(email, verified=True)
    client = sign_in(email)
    setup = client.post("/auth/mfa/totp/setup/")
    assert setup.status_code == 200, setup.content
    secret = setup.json()["secret"]
    phone = Authenticator(secret)
    confirmed = client.post("/auth/mfa/totp/confirm/", {"code": phone.code()}, format="json")
    assert confirmed.status_code == 200, confirmed.content
    return phone, confirmed.json()["recovery_codes"], secret


def mfa_sign_in(email: str, **proof):
    """login/ then mfa/verify/ with ``proof``: the verify response."""
    client = APIClient()
    challenge = login(client, email)
    assert challenge["mfa_required"] is True
    return verify(client, challenge["mfa_token"], **proof)


def database_dump() -> str:
    """Every row of every table, as text: strings as they are, binary values as hex
    and as Latin-1 (so raw seed bytes would show up too)."""
    parts: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview | bytearray):
                        raw = bytes(value)
                        parts += [raw.hex(), raw.decode("latin-1")]
                    else:
                        parts.append(str(value))
    return "\n".join(parts)


# --- nothing in clear ----------------------------------------------------------------


def test_a_raw_dump_of_the_database_holds_no_seed(make_user, settings):
    _, recovery_codes, secret = with_totp(make_user, "ada@example.com")
    seed = base64.b32decode(secret)
    dump = database_dump()
    assert "otp_totp_totpdevice" in connection.introspection.table_names()
    for form in (
        seed.hex(),
        seed.hex().upper(),
        secret,
        secret.rstrip("="),
        secret.lower(),
        base64.b64encode(seed).decode(),
        base64.urlsafe_b64encode(seed).decode().rstrip("="),
        seed.decode("latin-1"),
    ):
        assert form not in dump
    for code in recovery_codes:  # recovery codes stay keyed hashes
        assert code not in dump
    device = TOTPDevice.objects.get()
    assert device.key == "sealed"
    sealed = TOTPSecret.objects.get(device=device)
    assert sealed.key_id == key_id(derive_key(settings.SECRET_KEY))  # none configured
    assert seed not in bytes(sealed.ciphertext)


def test_each_setup_seals_a_fresh_ciphertext_under_the_first_key(make_user):
    with secureauth_settings(MFA_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        with_totp(make_user, "ada@example.com")
        with_totp(make_user, "bob@example.com")
    first, second = TOTPSecret.objects.order_by("pk")
    assert first.key_id == second.key_id == key_id(base64.urlsafe_b64decode(NEW_KEY))
    assert bytes(first.ciphertext)[:12] != bytes(second.ciphertext)[:12]  # nonces differ


# --- rotation --------------------------------------------------------------------------


def test_every_device_still_verifies_after_a_key_rotation(make_user):
    with secureauth_settings(MFA_ENCRYPTION_KEYS=[OLD_KEY]):
        phones = {email: with_totp(make_user, email)[0] for email in ("a@x.com", "b@x.com")}
    with secureauth_settings(MFA_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        output = run_rotation()
        assert "Re-sealed 2 seeds sealed under older keys" in output
        assert "Done: 2 seeds sealed under key" in output
        again = run_rotation()  # safe to run twice: nothing left to do
        assert "Re-sealed 0 seeds" in again and "Already under the current key: 2" in again
    new_id = key_id(base64.urlsafe_b64decode(NEW_KEY))
    assert set(TOTPSecret.objects.values_list("key_id", flat=True)) == {new_id}
    with secureauth_settings(MFA_ENCRYPTION_KEYS=[NEW_KEY]):  # the old key is gone
        for email, phone in phones.items():
            response = mfa_sign_in(email, code=phone.code())
            assert response.status_code == 200, response.content
            assert "otp" in amr(response.json())


def test_moving_from_the_derived_key_to_configured_keys(make_user, settings):
    phone, _, _ = with_totp(make_user, "ada@example.com")  # sealed under SECRET_KEY's key
    settings.SECUREAUTH = {**settings.SECUREAUTH, "MFA_ENCRYPTION_KEYS": [NEW_KEY]}
    assert "Re-sealed 1 seeds" in run_rotation()
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40  # the derived key is gone
    response = mfa_sign_in("ada@example.com", code=phone.code())
    assert response.status_code == 200, response.content


def test_secret_key_fallbacks_still_open_the_seeds(make_user, settings):
    phone, _, _ = with_totp(make_user, "ada@example.com")
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "the-rotated-secret-key-" + "y" * 40
    response = mfa_sign_in("ada@example.com", code=phone.code())
    assert response.status_code == 200, response.content
    assert "Re-sealed 1 seeds" in run_rotation()
    settings.SECRET_KEY_FALLBACKS = []
    assert mfa_sign_in("ada@example.com", code=phone.code()).status_code == 200


def test_dry_run_and_batches(make_user):
    with secureauth_settings(MFA_ENCRYPTION_KEYS=[OLD_KEY]):
        phones = [with_totp(make_user, f"u{i}@x.com")[0] for i in range(3)]
    before = {s.pk: bytes(s.ciphertext) for s in TOTPSecret.objects.all()}
    with secureauth_settings(MFA_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        dry = run_rotation("--dry-run")
        assert "Would re-seal 3 seeds" in dry and "Dry run: 3 seeds would change." in dry
        assert {s.pk: bytes(s.ciphertext) for s in TOTPSecret.objects.all()} == before
        assert "Re-sealed 3 seeds" in run_rotation("--batch-size", "2")
        with pytest.raises(CommandError, match="--batch-size"):
            run_rotation("--batch-size", "0")
    with secureauth_settings(MFA_ENCRYPTION_KEYS=[NEW_KEY]):
        for i, phone in enumerate(phones):
            assert mfa_sign_in(f"u{i}@x.com", code=phone.code()).status_code == 200


def test_a_bad_key_setting_stops_the_command(db):
    with secureauth_settings(MFA_ENCRYPTION_KEYS=["not base64!"]):
        with pytest.raises(CommandError, match=r"MFA_ENCRYPTION_KEYS'\] entry 0 is not base64"):
            run_rotation()


# --- failing closed --------------------------------------------------------------------


def test_a_seed_under_an_unknown_key_is_a_503_not_a_500_nor_a_pass(make_user, caplog):
    with secureauth_settings(MFA_ENCRYPTION_KEYS=[OLD_KEY]):
        phone, recovery_codes, _ = with_totp(make_user, "ada@example.com")
    with secureauth_settings(MFA_ENCRYPTION_KEYS=[NEW_KEY]):
        client = APIClient()
        challenge = login(client, "ada@example.com")  # the password step does not need it
        assert challenge["mfa_required"] is True
        with caplog.at_level(logging.ERROR, logger="secureauth"):
            response = verify(client, challenge["mfa_token"], code=phone.totp.now())
        assert response.status_code == 503
        assert response.json() == {
            "detail": "Authenticator codes cannot be checked right now; use a recovery "
            "code or try again later.",
            "code": "service_unavailable",
        }
        assert "sealed under a key that is not configured" in caplog.text
        old_id = key_id(base64.urlsafe_b64decode(OLD_KEY))
        assert old_id in caplog.text
        assert MFAChallenge.objects.get().attempts == 0  # not the user's fault
        device = TOTPDevice.objects.get()
        assert device.throttling_failure_count == 0
        # Recovery codes are keyed hashes, not sealed: they still sign the user in.
        rescued = verify(client, challenge["mfa_token"], recovery_code=recovery_codes[0])
        assert rescued.status_code == 200, rescued.content
        # The command names the device it cannot re-seal and fails.
        errors = StringIO()
        with pytest.raises(CommandError, match="1 TOTP devices could not be re-sealed"):
            call_command("secureauth_rotate_mfa_keys", stdout=StringIO(), stderr=errors)
        assert f"TOTP device {device.pk}: its seed sealed under a key" in errors.getvalue()
        assert old_id in errors.getvalue()
    with secureauth_settings(MFA_ENCRYPTION_KEYS=[OLD_KEY]):  # the key is back: it works
        assert mfa_sign_in("ada@example.com", code=phone.code()).status_code == 200


def test_a_ciphertext_copied_to_another_device_does_not_open(make_user):
    ada_phone, _, _ = with_totp(make_user, "ada@example.com")
    with_totp(make_user, "eve@example.com")
    ada, eve = (
        SealedTOTPDevice.objects.get(user__email=e) for e in ("ada@example.com", "eve@example.com")
    )
    ada_seal = TOTPSecret.objects.get(device=ada)
    TOTPSecret.objects.filter(device=eve).update(
        key_id=ada_seal.key_id, ciphertext=bytes(ada_seal.ciphertext)
    )
    # Eve's row now carries Ada's ciphertext: Ada's codes do not open Eve's account.
    response = mfa_sign_in("eve@example.com", code=ada_phone.code())
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"


def test_a_device_moved_to_another_user_does_not_open(make_user):
    phone, _, _ = with_totp(make_user, "ada@example.com")
    eve = make_user("eve@example.com", verified=True)
    TOTPDevice.objects.update(user=eve)
    assert mfa_sign_in("eve@example.com", code=phone.code()).status_code == 503


def test_a_device_left_in_clear_is_refused_until_the_command_seals_it(make_user):
    """A device made by django-otp's own admin or API holds its seed in clear: it is not
    trusted (anyone who can write the table could plant one) until an operator runs
    the command, which seals it."""
    user = make_user("ada@example.com", verified=True)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True, tolerance=1)
    phone = Authenticator(base64.b32encode(device.bin_key).decode())
    assert mfa_sign_in("ada@example.com", code=phone.code()).status_code == 503
    output = run_rotation()
    assert "Sealed 1 seeds found in clear" in output
    device.refresh_from_db()
    assert device.key == "sealed"
    assert mfa_sign_in("ada@example.com", code=phone.code()).status_code == 200


def test_a_wrong_code_is_still_a_wrong_code(make_user):
    with_totp(make_user, "ada@example.com")
    response = mfa_sign_in("ada@example.com", code="000000")
    assert response.status_code == 401 and response.json()["code"] == "mfa_invalid"


def test_setup_with_an_unusable_key_setting_is_a_503(make_user):
    make_user("ada@example.com", verified=True)
    client = sign_in("ada@example.com")
    with secureauth_settings(MFA_ENCRYPTION_KEYS=["c2hvcnQ="]):
        response = client.post("/auth/mfa/totp/setup/")
    assert response.status_code == 503
    assert response.json() == {
        "detail": "Authenticator apps cannot be set up right now.",
        "code": "service_unavailable",
    }
    assert not TOTPDevice.objects.exists()  # no device without its sealed seed


def test_disabling_removes_the_sealed_seed(make_user):
    phone, _, _ = with_totp(make_user, "ada@example.com")
    client = sign_in_with_mfa("ada@example.com", phone)
    response = client.post(
        "/auth/mfa/disable/", {"password": PASSWORD, "code": phone.code()}, format="json"
    )
    assert response.status_code == 204, response.content
    assert not TOTPDevice.objects.exists() and not TOTPSecret.objects.exists()


def sign_in_with_mfa(email: str, phone: Authenticator) -> APIClient:
    client = APIClient()
    challenge = login(client, email)
    tokens = verify(client, challenge["mfa_token"], code=phone.code()).json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    return client
