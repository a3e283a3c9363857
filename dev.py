#!/usr/bin/env python3
"""Set up and run SecureAuth on a fresh machine that has only python3.

    python3 dev.py serve   # venv, install, migrate, collectstatic, serve the example on :8000
    python3 dev.py test    # venv, install, run the test suite (SQLite + local-memory cache)

Both create ``.venv/`` on first use and reinstall only when pyproject.toml changes.
Environment variables (DATABASE_URL, REDIS_URL, SECRET_KEY, ...) pass through.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
STAMP = VENV / ".secureauth-installed"


def run(*args: str, env: dict | None = None) -> None:
    subprocess.run(args, cwd=ROOT, check=True, env=env)


def ensure_venv() -> None:
    if not PY.exists():
        print("creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text() != wanted:
        print("installing secureauth and its dependencies into .venv", flush=True)
        run(str(PY), "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        run(str(PY), "-m", "pip", "install", "--quiet", "-e", ".[dev]")
        STAMP.write_text(wanted)


def serve(args: list[str]) -> None:
    env = {**os.environ}
    env.setdefault("DEBUG", "1")
    env.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    address = args[0] if args else "127.0.0.1:8000"
    port = address.rpartition(":")[2] or "8000"
    # Browsers open the account pages at localhost (WebAuthn refuses an IP address):
    # links in mail and passkeys follow PUBLIC_URL (example_project/settings.py).
    env.setdefault("PUBLIC_URL", f"http://localhost:{port}")
    run(str(PY), "manage.py", "migrate", "--noinput", env=env)
    # Static files (admin, Swagger UI) into STATIC_ROOT, served by whitenoise.
    run(str(PY), "manage.py", "collectstatic", "--noinput", "-v0", env=env)
    print(f"SecureAuth is serving on http://{address}/auth/ (API docs: /api/docs/)", flush=True)
    print(
        f"Account pages: {env['PUBLIC_URL']}/account/ (sign up there; mail is printed here)",
        flush=True,
    )
    os.execve(str(PY), [str(PY), "manage.py", "runserver", address, "--noreload"], env)


def test(args: list[str]) -> None:
    env = {**os.environ}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run([str(PY), "-m", "pytest", *args], cwd=ROOT, env=env)
    sys.exit(result.returncode)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("serve", "test"):
        print(__doc__)
        sys.exit(2)
    ensure_venv()
    {"serve": serve, "test": test}[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
