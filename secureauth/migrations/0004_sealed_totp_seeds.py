"""TOTP seeds sealed at rest (docs/mfa.md, "Seeds at rest").

Creates ``TOTPSecret`` and the ``SealedTOTPDevice`` proxy, then seals the seed of
every existing django-otp TOTP device under the current key of MFA_ENCRYPTION_KEYS
(or the key derived from SECRET_KEY) and leaves only the marker ``sealed`` in its
``key`` column. A key column that holds no seed worth sealing (not hex, shorter than
128 bits) is left as it is and printed: SecureAuth accepts no code for that device.
Reversible: going back opens every seed into the ``key`` column again, which needs
the keys that sealed them.
"""

from binascii import hexlify

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

from secureauth.sealing import SealedSeed, SeedUnavailable, keyring, seed_in_clear

SEALED = "sealed"
BATCH_SIZE = 500


def seal_existing_seeds(apps, schema_editor):
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    TOTPSecret = apps.get_model("secureauth", "TOTPSecret")
    ring = keyring()
    devices = TOTPDevice.objects.using(schema_editor.connection.alias).exclude(key=SEALED)
    last_pk = 0
    while True:
        batch = list(devices.filter(pk__gt=last_pk).order_by("pk")[:BATCH_SIZE])
        if not batch:
            return
        for device in batch:
            try:
                seed = seed_in_clear(device.key)
            except ValueError as exc:
                print(f"\n  secureauth: TOTP device {device.pk} left unsealed: {exc}.")
                continue
            sealed = ring.seal(seed, device_pk=device.pk, user_id=device.user_id)
            TOTPSecret.objects.using(schema_editor.connection.alias).create(
                device_id=device.pk,
                key_id=sealed.key_id,
                ciphertext=sealed.ciphertext,
                sealed_at=django.utils.timezone.now(),
            )
            device.key = SEALED
            device.save(update_fields=["key"])
        last_pk = batch[-1].pk


def open_sealed_seeds(apps, schema_editor):
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    TOTPSecret = apps.get_model("secureauth", "TOTPSecret")
    ring = keyring()
    secrets = TOTPSecret.objects.using(schema_editor.connection.alias).select_related("device")
    for secret in secrets.iterator(chunk_size=BATCH_SIZE):
        device = secret.device
        try:
            seed = ring.open(
                SealedSeed(secret.key_id, bytes(secret.ciphertext)),
                device_pk=device.pk,
                user_id=device.user_id,
            )
        except SeedUnavailable as exc:
            raise RuntimeError(
                f"The seed of TOTP device {device.pk} (key id {exc.key_id}) {exc.reason}: "
                "configure the key that sealed it in MFA_ENCRYPTION_KEYS to go back."
            ) from exc
        TOTPDevice.objects.using(schema_editor.connection.alias).filter(pk=device.pk).update(
            key=hexlify(seed).decode("ascii")
        )


class Migration(migrations.Migration):
    dependencies = [
        ("otp_totp", "0003_add_timestamps"),
        ("secureauth", "0003_child_salt_default_reported_reason"),
    ]

    operations = [
        migrations.CreateModel(
            name="TOTPSecret",
            fields=[
                (
                    "device",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="secureauth_secret",
                        serialize=False,
                        to="otp_totp.totpdevice",
                    ),
                ),
                ("key_id", models.CharField(db_index=True, max_length=64)),
                ("ciphertext", models.BinaryField()),
                ("sealed_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "verbose_name": "sealed TOTP seed",
            },
        ),
        migrations.CreateModel(
            name="SealedTOTPDevice",
            fields=[],
            options={
                "verbose_name": "TOTP device",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("otp_totp.totpdevice",),
        ),
        migrations.RunPython(seal_existing_seeds, open_sealed_seeds, elidable=False),
    ]
