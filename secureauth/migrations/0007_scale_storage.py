"""Storage at scale.

- ``RefreshToken.token_hash``: the SHA-256 digest as 32 raw bytes (was 64 hex
  characters, with a second ``varchar_pattern_ops`` index PostgreSQL never used);
  existing rows are converted, both ways.
- ``Session.user`` and ``AuditEvent.user``: no index of their own, the composite
  indexes that start with the user serve every lookup by user.
- ``AuditEvent.session`` and ``RefreshToken.parent``: plain references without a
  database constraint, so purging sessions and expired tokens never rewrites the
  rows that name them.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

BATCH = 2000


def _convert(apps, schema_editor, sql_expression: str, source: str, target: str, python) -> None:
    model = apps.get_model("secureauth", "RefreshToken")
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        quote = schema_editor.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {quote(model._meta.db_table)} SET {quote(target)} = "
                + sql_expression.format(quote(source))
            )
        return
    rows = model._base_manager.using(connection.alias).order_by("pk")
    last = 0
    while True:
        batch = list(rows.filter(pk__gt=last).only("pk", source)[:BATCH])
        if not batch:
            return
        for row in batch:
            setattr(row, target, python(getattr(row, source)))
        model._base_manager.using(connection.alias).bulk_update(batch, [target])
        last = batch[-1].pk


def hex_to_digest(apps, schema_editor) -> None:
    _convert(
        apps,
        schema_editor,
        "decode({}, 'hex')",
        "token_hash",
        "token_digest",
        lambda value: bytes.fromhex(value),
    )


def digest_to_hex(apps, schema_editor) -> None:
    _convert(
        apps,
        schema_editor,
        "encode({}, 'hex')",
        "token_digest",
        "token_hash",
        lambda value: bytes(value).hex(),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("secureauth", "0006_dpop"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="session",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="audit_events",
                to="secureauth.session",
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="user",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="secureauth_audit_events",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="refreshtoken",
            name="parent",
            field=models.OneToOneField(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="child",
                to="secureauth.refreshtoken",
            ),
        ),
        migrations.AlterField(
            model_name="session",
            name="user",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="secureauth_sessions",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        # token_hash: hex -> 32 bytes, through a second column; every step is
        # reversible (backwards, the hex column is refilled before it is NOT NULL again).
        migrations.AddField(
            model_name="refreshtoken",
            name="token_digest",
            field=models.BinaryField(max_length=32, null=True),
        ),
        migrations.AlterField(
            model_name="refreshtoken",
            name="token_hash",
            field=models.CharField(max_length=64, null=True, unique=True),
        ),
        migrations.RunPython(hex_to_digest, digest_to_hex, elidable=False),
        migrations.RemoveField(model_name="refreshtoken", name="token_hash"),
        migrations.RenameField(
            model_name="refreshtoken", old_name="token_digest", new_name="token_hash"
        ),
        migrations.AlterField(
            model_name="refreshtoken",
            name="token_hash",
            field=models.BinaryField(max_length=32, unique=True),
        ),
    ]
