"""Real server processes for multi-process tests.

``start_server(env)`` runs gunicorn (one worker) on a free loopback port with the
test settings and the database the test run is using, and returns its base URL.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """A URL for the database this test run is connected to (the test database)."""
    cfg = connection.settings_dict
    if cfg["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{cfg['NAME']}"
    user = cfg.get("USER") or "postgres"
    host = cfg.get("HOST") or "127.0.0.1"
    port = cfg.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{cfg['NAME']}"


@contextmanager
def gunicorn(app: str, env: dict[str, str], *, workers: int = 1, ready_path: str):
    """Run ``gunicorn app`` on a free loopback port until ``ready_path`` answers;
    yield its base URL; stop it."""
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}"]
    cmd += ["--workers", str(workers), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(base + ready_path, timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"{app} did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def running_server(extra_env: dict[str, str] | None = None):
    """Start a gunicorn process serving tests.urls on the test database; yield its base URL."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        **(extra_env or {}),
    }
    with gunicorn("tests.wsgi:application", env, ready_path="/auth/.well-known/jwks.json") as base:
        yield base
