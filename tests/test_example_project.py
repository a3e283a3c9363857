"""The example service as a user runs it: its own settings, migrated from scratch,
served by a real process on SQLite, driven over HTTP like curl would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.servers import ROOT, gunicorn


def _call(base: str, method: str, path: str, body=None, token=None, headers=None):
    request = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            raw = response.read()
            return response.status, dict(response.headers), raw
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def example_service(tmp_path_factory):
    var = tmp_path_factory.mktemp("example-var")
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "SECUREAUTH_VAR_DIR": str(var),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("SECRET_KEY", None)
    env["DEBUG"] = "1"  # the embedded default, as ``python3 dev.py serve`` runs it
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    with gunicorn(
        "example_project.wsgi:application", env, workers=2, ready_path="/health/"
    ) as base:
        yield base


def test_curl_walkthrough(example_service):
    base = example_service
    status, _, body = _call(
        base,
        "POST",
        "/auth/register/",
        {"email": "walk@example.com", "password": "a long passphrase 42"},
    )
    assert status == 201, body
    status, headers, body = _call(
        base,
        "POST",
        "/auth/login/",
        {"email": "walk@example.com", "password": "a long passphrase 42"},
    )
    assert status == 200, body
    assert headers["Cache-Control"] == "no-store"
    tokens = json.loads(body)
    status, _, body = _call(
        base, "POST", "/auth/refresh/", {"refresh_token": tokens["refresh_token"]}
    )
    assert status == 200, body
    tokens = json.loads(body)
    status, _, body = _call(base, "GET", "/auth/sessions/", token=tokens["access_token"])
    assert status == 200 and len(json.loads(body)) == 1
    status, _, _ = _call(base, "POST", "/auth/logout/", token=tokens["access_token"])
    assert status == 204
    status, _, body = _call(base, "GET", "/auth/me/", token=tokens["access_token"])
    assert status == 401 and json.loads(body)["code"] == "session_revoked"


def test_passwords_are_hashed_with_argon2(example_service, monkeypatch, tmp_path):
    monkeypatch.setenv("DEBUG", "1")
    monkeypatch.setenv("SECUREAUTH_VAR_DIR", str(tmp_path))
    from example_project import settings as example_settings

    assert example_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_swagger_ui_works_offline(example_service):
    status, _, body = _call(example_service, "GET", "/api/docs/")
    assert status == 200
    html = body.decode()
    assert "drf_spectacular_sidecar" in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html
    status, _, schema = _call(example_service, "GET", "/api/schema/?format=json")
    assert status == 200 and json.loads(schema)["openapi"].startswith("3.")


def test_unknown_paths_and_errors_are_json(example_service):
    for path in ("/nope/", "/auth/nope/"):
        status, headers, body = _call(example_service, "GET", path)
        assert status == 404
        assert headers["Content-Type"].startswith("application/json")
        assert json.loads(body)["code"] == "not_found"
