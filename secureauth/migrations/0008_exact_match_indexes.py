"""Exact-match indexes only: the unique and indexed ``CharField``s (email key, MFA
and email-link token digests, passkey credential digest, audit event name, email-link
address digest, MFA key id) get their index or unique constraint from ``Meta``, so
PostgreSQL no longer builds a second ``varchar_pattern_ops`` (``_like``) index for
each; no query uses ``LIKE`` on them. The rows are untouched."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("otp_totp", "0003_add_timestamps"),
        ("secureauth", "0007_scale_storage"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="account",
            name="email_key",
            field=models.CharField(blank=True, max_length=320, null=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="event",
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name="magiclink",
            name="address_digest",
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name="magiclink",
            name="token_hash",
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name="mfachallenge",
            name="token_hash",
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name="passkey",
            name="credential_id_hash",
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name="totpsecret",
            name="key_id",
            field=models.CharField(max_length=64),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["event"], name="secureauth_audit_event"),
        ),
        migrations.AddIndex(
            model_name="magiclink",
            index=models.Index(fields=["address_digest"], name="secureauth_magiclink_address"),
        ),
        migrations.AddIndex(
            model_name="totpsecret",
            index=models.Index(fields=["key_id"], name="secureauth_totpsecret_key"),
        ),
        migrations.AddConstraint(
            model_name="account",
            constraint=models.UniqueConstraint(
                fields=("email_key",), name="secureauth_account_email_key"
            ),
        ),
        migrations.AddConstraint(
            model_name="magiclink",
            constraint=models.UniqueConstraint(
                fields=("token_hash",), name="secureauth_magiclink_token"
            ),
        ),
        migrations.AddConstraint(
            model_name="mfachallenge",
            constraint=models.UniqueConstraint(
                fields=("token_hash",), name="secureauth_mfachallenge_token"
            ),
        ),
        migrations.AddConstraint(
            model_name="passkey",
            constraint=models.UniqueConstraint(
                fields=("credential_id_hash",), name="secureauth_passkey_credential"
            ),
        ),
    ]
