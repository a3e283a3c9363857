"""Storage at scale: the refresh-token digest as 32 bytes with one index, no index
duplicated by a composite one, links the cleanup never rewrites; the migration that
converts existing hex digests (both ways)."""

from __future__ import annotations

import pytest
from django.apps import apps as global_apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from secureauth.crypto import hash_token, new_refresh_token, token_digest
from secureauth.models import AuditEvent, MFAChallenge, Passkey, RefreshToken, Session

from .conftest import login


def indexes_on(model, *columns: str) -> list[str]:
    """The index names of ``model``'s table whose columns start with ``columns``."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return [
        name
        for name, info in constraints.items()
        if info["index"] or info["unique"]
        if info["columns"][: len(columns)] == list(columns) and not info["foreign_key"]
    ]


def test_the_digest_is_32_bytes_and_found_through_the_manager(api, user):
    tokens = login(api, user.email)
    row = RefreshToken.objects.lookup(token_digest(tokens["refresh_token"]))
    assert row is not None and row.session.user == user
    assert bytes(row.token_hash) == token_digest(tokens["refresh_token"])
    assert len(row.token_hash) == 32
    assert RefreshToken.objects.lookup(token_digest(new_refresh_token())) is None


@pytest.mark.django_db
def test_one_index_per_lookup():
    assert len(indexes_on(RefreshToken, "token_hash")) == 1
    # Served by the composite indexes (user, revoked_at) and (user, -created_at):
    assert indexes_on(Session, "user_id") == ["secureauth_session_user"]
    assert indexes_on(AuditEvent, "user_id") == ["secureauth_audit_user"]
    # Nothing looks audit events up by session.
    assert indexes_on(AuditEvent, "session_id") == []


@pytest.mark.django_db
def test_purge_links_have_no_database_constraint():
    with connection.cursor() as cursor:
        audit = connection.introspection.get_constraints(cursor, AuditEvent._meta.db_table)
        tokens = connection.introspection.get_constraints(cursor, RefreshToken._meta.db_table)
    assert not [c for c in audit.values() if c["foreign_key"] and c["columns"] == ["session_id"]]
    assert not [c for c in tokens.values() if c["foreign_key"] and c["columns"] == ["parent_id"]]
    # The session of a token is still enforced by the database.
    assert [c for c in tokens.values() if c["foreign_key"] and c["columns"] == ["session_id"]]


def storage_migration() -> tuple[tuple[str, str], tuple[str, str]]:
    """(the storage migration, the secureauth migration before it), whatever their numbers."""
    loader = MigrationExecutor(connection).loader
    name = next(
        migration
        for app, migration in loader.disk_migrations
        if app == "secureauth" and migration.endswith("_scale_storage")
    )
    before = next(
        dep
        for dep in loader.get_migration("secureauth", name).dependencies
        if dep[0] == "secureauth"
    )
    return ("secureauth", name), before


def migrate(target: list[tuple[str, str]]):
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.mark.django_db(transaction=True)
def test_the_migration_converts_hex_digests_both_ways():
    storage, before = storage_migration()
    plains = [new_refresh_token() for _ in range(5)]
    try:
        old = migrate([before])
        user_model = old.get_model(settings.AUTH_USER_MODEL)
        user = user_model.objects.create(
            **{get_user_model().USERNAME_FIELD: "migrated@example.com"}, password="!"
        )
        now = timezone.now()
        session = old.get_model("secureauth", "Session").objects.create(
            user_id=user.pk, expires_at=now, created_at=now, last_used_at=now, auth_time=now
        )
        old_tokens = old.get_model("secureauth", "RefreshToken").objects
        for plain in plains:
            old_tokens.create(session_id=session.pk, token_hash=hash_token(plain), expires_at=now)

        new = migrate([storage])
        rows = new.get_model("secureauth", "RefreshToken").objects.order_by("pk")
        assert [bytes(row.token_hash) for row in rows] == [token_digest(p) for p in plains]

        back = migrate([before])
        rows = back.get_model("secureauth", "RefreshToken").objects.order_by("pk")
        assert [row.token_hash for row in rows] == [hash_token(p) for p in plains]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert global_apps.get_model("secureauth", "RefreshToken").objects.count() == len(plains)
    assert RefreshToken.objects.filter(token_hash=token_digest(plains[0])).exists()


@pytest.mark.django_db
def test_no_text_column_has_an_index_for_like():
    """Every lookup on SecureAuth's text columns is exact: none carries the second
    ``varchar_pattern_ops`` index PostgreSQL gets for an indexed CharField."""
    tables = [
        model._meta.db_table for model in global_apps.get_app_config("secureauth").get_models()
    ]
    with connection.cursor() as cursor:
        found = {
            (table, name)
            for table in tables
            for name in connection.introspection.get_constraints(cursor, table)
            if name.endswith("_like")
        }
    assert found == set()
    # The unique ones still refuse a duplicate.
    assert indexes_on(Passkey, "credential_id_hash") == ["secureauth_passkey_credential"]
    assert indexes_on(MFAChallenge, "token_hash") == ["secureauth_mfachallenge_token"]
    assert indexes_on(AuditEvent, "event") == ["secureauth_audit_event"]
