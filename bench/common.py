"""What both benchmark modes share: choosing and preparing the database, the user.

Call ``configure(...)`` before ``django.setup()``: it fixes the environment that
``bench.settings`` reads.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/secureauth_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

EMAIL = "bench@example.com"
PASSWORD = "correct-horse-battery-staple-42"
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


def configure(*, postgres: bool, redis: bool, hasher: str, prepared: bool = False) -> None:
    """Set the environment bench.settings reads; put the repository on sys.path.

    ``prepared``: on PostgreSQL, server-side binding with prepared statements (Django
    turns them off by default), for both implementations alike."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if postgres:
        os.environ.setdefault("DATABASE_URL", DEFAULT_POSTGRES_URL)
    if redis:
        os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    os.environ["BENCH_HASHER"] = hasher
    if prepared:
        os.environ["BENCH_PG_PREPARED"] = "1"
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"


def describe_backends() -> str:
    from django.conf import settings
    from django.db import connection

    db = connection.vendor
    if db == "postgresql":
        db += f" {connection.settings_dict['NAME']}"
        if connection.settings_dict["OPTIONS"].get("server_side_binding"):
            db += " (prepared statements)"
    cache = "redis" if "redis" in settings.CACHES["default"]["BACKEND"] else "local-memory"
    hasher = settings.PASSWORD_HASHERS[0].rsplit(".", 1)[-1]
    return f"database: {db}; cache: {cache}; password hasher: {hasher}"


def recreate_database() -> None:
    """Start from empty tables: a new SQLite file, or DROP + CREATE of the PostgreSQL
    database (only when its name contains "bench"; any other database is only
    created if missing, never dropped). Must run before anything connects."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        from bench.settings import SQLITE_PATH

        for suffix in ("", "-wal", "-shm"):
            Path(SQLITE_PATH + suffix).unlink(missing_ok=True)
        return
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and "bench" in name:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = None
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


LOGIN_EMAIL_TEMPLATE = "bench-login-{i}@example.com"


def create_user(login_users: int = 0, extra_users: int = 0):
    """The user both implementations sign in (username and email are the same), plus
    ``login_users`` more (LOGIN_EMAIL_TEMPLATE) sharing its password, for logins under load.

    ``extra_users`` other accounts are created first, so the bench user is the last row
    of a table of that size (a lookup that scans the table then scans all of it)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    User = get_user_model()
    if extra_users:
        unusable = make_password(None)
        User.objects.bulk_create(
            (
                User(
                    username=f"user{i}@example.org", email=f"user{i}@example.org", password=unusable
                )
                for i in range(extra_users)
            ),
            batch_size=5000,
        )
    user = User.objects.create_user(username=EMAIL, email=EMAIL, password=PASSWORD)
    emails = [LOGIN_EMAIL_TEMPLATE.format(i=i) for i in range(login_users)]
    User.objects.bulk_create(
        [User(username=email, email=email, password=user.password) for email in emails]
    )
    add_accounts()
    return user


def add_accounts() -> None:
    """bulk_create sends no post_save: give every user without one its SecureAuth
    account row (the canonical email key sign-in looks users up by)."""
    from django.contrib.auth import get_user_model

    from secureauth.emails import canonical_email
    from secureauth.models import Account

    users = get_user_model().objects.filter(secureauth_account__isnull=True)
    Account.objects.bulk_create(
        (
            Account(user_id=pk, email_key=canonical_email(email))
            for pk, email in users.values_list("pk", "email").iterator()
        ),
        batch_size=5000,
    )


def clear_cache() -> None:
    """Forget rate-limit counters of earlier runs: only this project's keys (KEY_PREFIX)
    on Redis, never the whole Redis database."""
    from django.core.cache import cache

    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")
    else:
        cache.clear()
