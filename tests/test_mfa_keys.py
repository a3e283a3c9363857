"""MFA_ENCRYPTION_KEYS itself: the key format, the system checks (E070, W070), the
keyring's rules, the migration that seals existing seeds, and the admin sign-in when
a seed cannot be opened."""

from __future__ import annotations

import base64
import secrets
from binascii import hexlify

import pytest
from django.core.checks import run_checks
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from secureauth.checks import check_mfa_encryption_keys, check_mfa_encryption_keys_deploy
from secureauth.models import TOTPSecret
from secureauth.sealing import (
    KeyringError,
    SealedSeed,
    SeedUnavailable,
    decode_key,
    derive_key,
    generate_key,
    key_id,
    keyring,
)
from tests.conftest import secureauth_settings
from tests.test_admin_login import Authenticator, admin_login, enable_second_factor, staff
from tests.test_email_identity import migrate_to_latest
from tests.test_mfa_encryption import mfa_sign_in

KEY = generate_key()
__all__ = ["staff"]  # a fixture of tests.test_admin_login


# --- the key format and the checks ----------------------------------------------------


def test_keys_are_32_bytes_in_either_base64_alphabet_with_or_without_padding():
    raw = secrets.token_bytes(32)
    for text in (
        base64.urlsafe_b64encode(raw).decode(),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        f"  {base64.b64encode(raw).decode()}\n",
    ):
        assert decode_key(text) == raw
    assert len(decode_key(generate_key())) == 32


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("MFA_ENCRYPTION_KEYS_STRING", "must be a list of base64 keys, not str"),
        (["not base64!"], "entry 0 is not base64"),
        ([base64.b64encode(b"short").decode()], "entry 0 decodes to 5 bytes, not 32"),
        ([KEY, b"\x00" * 32], "entry 1 is a bytes, not a base64 string"),
        ([KEY, KEY.rstrip("=")], "entry 1 repeats entry 0"),
    ],
)
def test_bad_keys_are_reported_by_check_as_E070(value, message):
    if value == "MFA_ENCRYPTION_KEYS_STRING":
        value = KEY
    with secureauth_settings(MFA_ENCRYPTION_KEYS=value):
        errors = check_mfa_encryption_keys(None)
        assert [error.id for error in errors] == ["secureauth.E070"]
        assert message in errors[0].msg
        assert KEY not in errors[0].msg  # a key is never printed
        assert "secureauth.E070" in {m.id for m in run_checks()}
        with pytest.raises(KeyringError):
            keyring()


def test_no_key_is_a_deploy_warning_W070_and_a_key_silences_it():
    warnings = check_mfa_encryption_keys_deploy(None)
    assert [warning.id for warning in warnings] == ["secureauth.W070"]
    assert "secureauth.W070" not in {m.id for m in run_checks()}  # only with --deploy
    assert "secureauth.W070" in {m.id for m in run_checks(include_deployment_checks=True)}
    with secureauth_settings(MFA_ENCRYPTION_KEYS=[KEY]):
        assert check_mfa_encryption_keys(None) == []
        assert check_mfa_encryption_keys_deploy(None) == []


# --- the keyring -------------------------------------------------------------------------


def test_the_first_key_seals_and_every_key_opens(settings):
    other = generate_key()
    with secureauth_settings(MFA_ENCRYPTION_KEYS=[KEY, other]):
        ring = keyring()
        assert ring.current.key_id == key_id(decode_key(KEY))
        assert ring.current.source == "MFA_ENCRYPTION_KEYS[0]"
        assert KEY not in repr(ring)  # keys stay out of reprs and logs
        sealed = ring.seal(b"seed" * 5, device_pk=7, user_id=3)
    with secureauth_settings(MFA_ENCRYPTION_KEYS=[other, KEY]):
        assert keyring().open(sealed, device_pk=7, user_id=3) == b"seed" * 5
    with secureauth_settings(MFA_ENCRYPTION_KEYS=[other]):
        with pytest.raises(SeedUnavailable, match="not configured") as unknown:
            keyring().open(sealed, device_pk=7, user_id=3)
        assert unknown.value.key_id == sealed.key_id
    with secureauth_settings(MFA_ENCRYPTION_KEYS=[KEY]):
        ring = keyring()
        for pk, user_id in ((8, 3), (7, 4)):  # another row, another user
            with pytest.raises(SeedUnavailable, match="does not authenticate"):
                ring.open(sealed, device_pk=pk, user_id=user_id)
        tampered = SealedSeed(sealed.key_id, sealed.ciphertext[:-1] + b"\x00")
        with pytest.raises(SeedUnavailable, match="does not authenticate"):
            ring.open(tampered, device_pk=7, user_id=3)
    # Whatever is configured, the keys derived from SECRET_KEY still open (never seal).
    derived = key_id(derive_key(settings.SECRET_KEY))
    with secureauth_settings(MFA_ENCRYPTION_KEYS=[KEY]):
        assert [key.key_id for key in keyring().keys][1:] == [derived]


# --- the migration -----------------------------------------------------------------------

BEFORE_SEALING = [("secureauth", "0003_child_salt_default_reported_reason")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_seals_existing_seeds_and_reverses(make_user, capsys):
    user = make_user("ada@example.com", verified=True)
    seed = secrets.token_bytes(20)
    long_seed = secrets.token_bytes(40)  # django-otp accepts up to 40 bytes
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(BEFORE_SEALING)
        made = [  # django-otp's table is as it was: its seeds in clear
            TOTPDevice.objects.create(
                user_id=user.pk, name=name, key=hexlify(key).decode(), confirmed=True
            ).pk
            for name, key in (("phone", seed), ("token", long_seed))
        ]
        empty = TOTPDevice.objects.create(user_id=user.pk, name="empty", key="", confirmed=True)
        capsys.readouterr()
        migrate_to_latest(executor)
        printed = capsys.readouterr().out
        assert f"TOTP device {empty.pk} left unsealed: its seed has 0 bytes" in printed
        keys = dict(TOTPDevice.objects.values_list("pk", "key"))
        assert keys == {made[0]: "sealed", made[1]: "sealed", empty.pk: ""}
        assert TOTPSecret.objects.filter(device_id__in=made).count() == 2
        TOTPDevice.objects.filter(pk=empty.pk).delete()  # an empty seed: no code for it
        phone = Authenticator(TOTPDevice(key=seed.hex()))
        assert mfa_sign_in("ada@example.com", code=phone.code()).status_code == 200
        # Back to 0003: the seeds are in the key column again, as django-otp keeps them.
        executor = MigrationExecutor(connection)
        executor.migrate(BEFORE_SEALING)
        keys = dict(TOTPDevice.objects.values_list("pk", "key"))
        assert keys == {made[0]: seed.hex(), made[1]: long_seed.hex()}
    finally:
        migrate_to_latest(MigrationExecutor(connection))
    latest = MigrationExecutor(connection)
    assert latest.migration_plan(latest.loader.graph.leaf_nodes()) == []


# --- the admin sign-in -------------------------------------------------------------------


def test_the_admin_sign_in_with_a_seed_it_cannot_open_is_a_503(staff):
    with secureauth_settings(MFA_ENCRYPTION_KEYS=[KEY]):
        _, phone, codes = enable_second_factor(staff)
    with secureauth_settings(MFA_ENCRYPTION_KEYS=[generate_key()]):
        response = admin_login(Client(), "boss", code=phone.code())
        assert response.status_code == 503
        assert b"Signing in is unavailable right now" in response.content
        # A recovery code is not sealed: it still signs in.
        assert admin_login(Client(), "boss", code=codes[0]).status_code == 302


def test_the_admin_shows_totp_devices_read_only_and_never_a_seed(make_user):
    from django.contrib import admin
    from django.urls import reverse

    from secureauth.admin import SealedTOTPDeviceAdmin

    boss = make_user("root@example.com", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(boss)
    with secureauth_settings(MFA_ENCRYPTION_KEYS=[KEY]):
        device, _, _ = enable_second_factor(boss)
        seed_hex = device.bin_key.hex()
    assert isinstance(admin.site.get_model_admin(TOTPDevice), SealedTOTPDeviceAdmin)
    listing = client.get(reverse("admin:otp_totp_totpdevice_changelist"))
    assert listing.status_code == 200
    assert key_id(decode_key(KEY)).encode() in listing.content  # the key it is sealed under
    page = client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    for content in (listing.content, page.content):
        assert seed_hex.encode() not in content and b"qrcode" not in content
    assert client.get(reverse("admin:otp_totp_totpdevice_add")).status_code == 403
    delete = reverse("admin:otp_totp_totpdevice_delete", args=[device.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert TOTPDevice.objects.filter(pk=device.pk).exists()
