"""Fixtures of the fault tests: a private PostgreSQL (migrated, with users),
a private Redis per test, and the example service in real gunicorn processes on them.

None of it touches the test run's own database or cache: these tests run the same on
the SQLite and on the PostgreSQL pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PASSWORD
from tests.servers import ROOT, gunicorn

from .instances import PrivatePostgres, PrivateRedis, postgres_available, redis_available

DATABASE = "secureauth_faults"
#: Accounts every module's database starts with (password: tests.conftest.PASSWORD).
USERS = [f"user{i}@example.com" for i in range(12)]
SERVICE_SECRET_KEY = "faults-secret-key-that-is-long-enough-for-hmac-sha256-0123456789"
SERVICE_SIGNING_KEY = "faults-signing-key-that-is-long-enough-for-hmac-sha256-abcdefgh"


def pytest_collection_modifyitems(items):
    skip = pytest.mark.skip(reason="needs PostgreSQL's initdb/pg_ctl and redis-server")
    missing = not (postgres_available() and redis_available())
    for item in items:
        if missing and item.get_closest_marker("faults"):
            item.add_marker(skip)


def service_env(database_url: str, redis_url: str, var: str, **extra: str) -> dict[str, str]:
    """The example service's environment, production-like (DEBUG off), on plain HTTP;
    ``var``: a directory for its files."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEBUG")
    }
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "SECRET_KEY": SERVICE_SECRET_KEY,
        "SECUREAUTH_SIGNING_KEY": SERVICE_SIGNING_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CONN_MAX_AGE": "60",
        "SECUREAUTH_VAR_DIR": var,
        "STATIC_ROOT": var,
        "SECUREAUTH_LOG_LEVEL": "CRITICAL",
        **extra,
    }


def run_django(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        check=True,
        stdout=subprocess.DEVNULL,
    )


SEED = """
from django.contrib.auth import get_user_model
for email in {emails!r}:
    get_user_model().objects.create_user(username=email, email=email, password={password!r})
"""


@pytest.fixture(scope="session")
def postgres() -> Iterator[PrivatePostgres]:
    """The fault tests' PostgreSQL (one for all: initdb and migrate take a while),
    migrated, with the USERS accounts; each test signs in accounts of its own."""
    server = PrivatePostgres()
    try:
        server.init()
        server.start()
        server.create_database(DATABASE)
        env = service_env(server.url(DATABASE), "", str(server.directory))
        run_django(env, "migrate", "--noinput", "-v0")
        run_django(env, "shell", "-c", SEED.format(password=PASSWORD, emails=USERS))
        yield server
    finally:
        server.destroy()


@pytest.fixture
def database(postgres: PrivatePostgres) -> Iterator[PrivatePostgres]:
    """The module's PostgreSQL, running again after the test whatever the test did."""
    yield postgres
    if not postgres.running():
        postgres.start()


@pytest.fixture
def redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def service(
    database: PrivatePostgres, redis: PrivateRedis, *, workers: int = 1, **extra: str
) -> Iterator[str]:
    """The example service in gunicorn on the private servers; yields its base URL."""
    with tempfile.TemporaryDirectory(prefix="secureauth-faults-var-") as var:
        env = service_env(database.url(DATABASE), redis.url, var, **extra)
        app = "tests.faults.wsgi:application"
        with gunicorn(app, env, workers=workers, ready_path="/health/") as base:
            yield base


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any
    seconds: float

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


@dataclass
class Client:
    """A JSON client of one service, keeping an access token once signed in."""

    base: str
    access_token: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, path: str, body: dict | None = None, *, timeout: float = 30, **headers
    ) -> Answer:
        """``X_Forwarded_For="..."`` sends the header ``X-Forwarded-For``."""
        headers = {
            "Accept": "application/json",
            **{k.replace("_", "-"): v for k, v in headers.items()},
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.access_token:
            headers.setdefault("Authorization", f"Bearer {self.access_token}")
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base + path, data=data, headers=headers, method=method
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw, answer_headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, raw, answer_headers = error.code, error.read(), error.headers
        seconds = time.monotonic() - started
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return Answer(status, dict(answer_headers), parsed, seconds)

    def login(self, email: str, password: str = PASSWORD, **headers: str) -> Answer:
        body = {"email": email, "password": password}
        answer = self.request("POST", "/auth/login/", body, **headers)
        if answer.status == 200:
            self.access_token = answer.body["access_token"]
        return answer

    def refresh(self, token: str, **kwargs) -> Answer:
        return self.request("POST", "/auth/refresh/", {"refresh_token": token}, **kwargs)


def unavailable(answer: Answer) -> bool:
    """The contract's outage answer: JSON 503 service_unavailable with Retry-After."""
    return (
        answer.status == 503
        and answer.code == "service_unavailable"
        and isinstance(answer.body.get("detail"), str)
        and int(answer.headers.get("Retry-After", "0")) >= 1
    )


def query(database: PrivatePostgres, sql: str, *params: Any) -> list[tuple]:
    import psycopg

    with psycopg.connect(database.url(DATABASE), autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def hold_file() -> Path:
    handle, name = tempfile.mkstemp(prefix="secureauth-faults-hold-")
    os.close(handle)
    path = Path(name)
    path.write_text("")
    return path
