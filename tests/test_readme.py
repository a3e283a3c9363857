"""The README runs as printed.

A project made with ``django-admin startproject`` gets the README's integration blocks
(read from README.md itself, after their ``<!-- readme-test: NAME -->`` markers, so the
README cannot drift from what is tested): appended to settings.py, as urls.py, as
views.py; the README's shell block checks and migrates it; ``runserver`` serves it and a
real HTTP client signs up and in. The quickstart's curl walk-through runs with bash, as
printed, against the example service.

The helpers here (``subprocess_env``, ``serving``, ``call``, ``sign_up_and_in``) are
shared with tests/test_startservice.py.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.servers import ROOT, free_port, gunicorn

pytestmark = [pytest.mark.readme, pytest.mark.servers]

README = ROOT / "README.md"
VENV_BIN = Path(sys.executable).parent
PASSWORD = "correct horse battery staple"
MARKED_BLOCK = re.compile(
    r"^<!-- readme-test: (?P<name>[\w-]+) -->\n```[\w-]*\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
BLOCKS = {"quickstart", "settings", "urls", "migrate", "views"}


def readme_blocks() -> dict[str, str]:
    """The README's marked code blocks by name; each marker is used once."""
    found: dict[str, str] = {}
    for match in MARKED_BLOCK.finditer(README.read_text(encoding="utf-8")):
        assert match["name"] not in found, f"two README blocks marked {match['name']}"
        found[match["name"]] = match["body"]
    return found


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: the venv's ``python`` first on PATH, none of
    the test run's settings (pytest-django sets DJANGO_SETTINGS_MODULE)."""
    dropped = {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in dropped and key != "PYTHONPATH" and not key.startswith("SECUREAUTH_")
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return {**env, **extra}


def run(cmd: list[str], cwd: Path, env: dict[str, str], check: bool = True):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result


@contextmanager
def serving(cmd: list[str], cwd: Path, env: dict[str, str], base: str, log: Path, ready: str):
    """Run a server command until ``base + ready`` answers; yield; stop it."""
    with log.open("w") as output:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + ready, timeout=1).close()
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{cmd} did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def call(base: str, method: str, path: str, body=None, token=None, headers=None):
    """One request as any HTTP client sends it: (status, headers, parsed JSON or None)."""
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
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=15) as response:
            status, answer_headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, raw = error.code, error.headers, error.read()
    is_json = answer_headers.get("Content-Type", "").startswith("application/json")
    return status, answer_headers, json.loads(raw) if is_json and raw else None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer to look at, not to follow


def claims(access_token: str) -> dict:
    payload = access_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def sign_up_and_in(base: str, email: str, headers: dict | None = None) -> dict:
    """register, login, me, refresh, logout over HTTP, as the contract says; returns
    the last token response (its session is revoked)."""
    status, _, body = call(
        base, "POST", "/auth/register/", {"email": email, "password": PASSWORD}, headers=headers
    )
    assert status == 201, body
    assert body["user"]["email"] == email
    status, answer, tokens = call(
        base,
        "POST",
        "/auth/login/",
        {"email": email, "password": PASSWORD, "device_name": "laptop"},
        headers=headers,
    )
    assert status == 200, tokens
    assert answer["Cache-Control"] == "no-store"
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"]
    status, _, me = call(base, "GET", "/auth/me/", token=tokens["access_token"], headers=headers)
    assert status == 200, me
    assert me["email"] == email
    status, _, rotated = call(
        base,
        "POST",
        "/auth/refresh/",
        {"refresh_token": tokens["refresh_token"]},
        headers=headers,
    )
    assert status == 200, rotated
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert rotated["session"]["id"] == tokens["session"]["id"]
    status, _, body = call(
        base, "POST", "/auth/logout/", token=rotated["access_token"], headers=headers
    )
    assert status == 204, body
    status, _, body = call(base, "GET", "/auth/me/", token=rotated["access_token"], headers=headers)
    assert status == 401 and body["code"] == "session_revoked", body
    return rotated


def wait_for_text(path: Path, text: str, timeout: float = 10) -> str:
    """The log once it contains ``text`` (mail goes out in a thread after commit)."""
    deadline = time.monotonic() + timeout
    while text not in (content := path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return content


# --- a startproject host that follows the README ----------------------------------------


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """``django-admin startproject host`` plus the README's blocks, served by runserver."""
    blocks = readme_blocks()
    tmp = tmp_path_factory.mktemp("readme-host")
    env = subprocess_env()
    run([sys.executable, "-m", "django", "startproject", "host"], cwd=tmp, env=env)
    project = tmp / "host"
    settings = project / "host" / "settings.py"
    settings.write_text(settings.read_text() + "\n\n" + blocks["settings"])
    (project / "host" / "urls.py").write_text(blocks["urls"])
    (project / "host" / "views.py").write_text(blocks["views"])
    # Not in the README: a route to the README's example view, to call it.
    with (project / "host" / "urls.py").open("a") as urls:
        urls.write("\nfrom host.views import ReportView\n\n")
        urls.write('urlpatterns += [path("reports/", ReportView.as_view())]\n')
    migrated = run(["bash", "-euo", "pipefail", "-c", blocks["migrate"]], cwd=project, env=env)
    assert "System check identified no issues" in migrated.stdout
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp / "runserver.log"
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    with serving(command, project, env, base, log, ready="/auth/.well-known/jwks.json"):
        yield {"base": base, "project": project, "log": log, "env": env}


def test_every_marked_block_is_in_the_readme():
    blocks = readme_blocks()
    assert set(blocks) == BLOCKS
    for name in ("settings", "urls", "views"):
        compile(blocks[name], f"README.md:{name}", "exec")
        assert "..." not in blocks[name]  # complete as printed, nothing to fill in
    assert "Argon2PasswordHasher" in blocks["settings"].split("PASSWORD_HASHERS")[1]


def test_a_startproject_host_following_the_readme_signs_users_in(host):
    sign_up_and_in(host["base"], "lin@example.com")
    # The README's EMAIL_BACKEND: the verification mail is printed by the server.
    assert "Confirm your email address" in wait_for_text(host["log"], "Confirm your email")


def test_the_readme_settings_take_effect(host):
    """The app is installed after django.contrib.admin (its admin login replaces the
    admin's), and new passwords are hashed with Argon2."""
    status, _, body = call(
        host["base"],
        "POST",
        "/auth/register/",
        {"email": "grace@example.com", "password": PASSWORD},
    )
    assert status == 201, body
    script = (
        "import json; from django.conf import settings; "
        "from django.contrib.auth import get_user_model; "
        "user = get_user_model().objects.get(email='grace@example.com'); "
        "print(json.dumps([settings.INSTALLED_APPS, user.password.split('$')[0]]))"
    )
    result = run(
        [sys.executable, "manage.py", "shell", "-c", script], cwd=host["project"], env=host["env"]
    )
    apps, algorithm = json.loads(result.stdout.strip().splitlines()[-1])
    assert apps.index("secureauth") > apps.index("django.contrib.admin")
    assert algorithm == "argon2"
    with urllib.request.urlopen(host["base"] + "/admin/login/", timeout=15) as page:
        assert 'name="otp_token"' in page.read().decode()  # SecureAuth's admin login


def test_the_readme_view_is_protected_and_answers_the_contract_errors(host):
    base = host["base"]
    status, answer, body = call(base, "GET", "/reports/")
    assert status == 401 and body["code"] == "not_authenticated", body
    assert answer["WWW-Authenticate"].startswith("Bearer")
    assert set(body) == {"detail", "code"}
    call(base, "POST", "/auth/register/", {"email": "bob@example.com", "password": PASSWORD})
    _, _, tokens = call(
        base, "POST", "/auth/login/", {"email": "bob@example.com", "password": PASSWORD}
    )
    status, _, body = call(base, "GET", "/reports/", token=tokens["access_token"])
    assert status == 403 and body["code"] == "permission_denied", body
    assert set(body) == {"detail", "code"}


def run_quickstart(base: str) -> str:
    """The README's curl walk-through with bash, stopping at the first failure."""
    script = readme_blocks()["quickstart"]
    env = subprocess_env(AUTH=f"{base}/auth")
    result = run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env, check=False)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert result.stderr == ""
    output = result.stdout
    assert '"email":"ada@example.com"' in output  # register/ and me/
    assert '"device":{"name":"laptop"' in output  # sessions/
    assert output.rstrip().splitlines()[-1].endswith('"code":"session_revoked"}')
    return output


def test_the_quickstart_walkthrough_runs_against_the_host(host):
    """As the integration section says: the walk-through runs against the host too."""
    run_quickstart(host["base"])


# --- the quickstart's curl walk-through against the example service -----------------------


@pytest.fixture(scope="module")
def example_service(tmp_path_factory):
    """The example service as ``python3 dev.py serve`` runs it: DEBUG=1, SQLite."""
    var = tmp_path_factory.mktemp("readme-example-var")
    env = subprocess_env(
        DJANGO_SETTINGS_MODULE="example_project.settings", DEBUG="1", SECUREAUTH_VAR_DIR=str(var)
    )
    run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env)
    with gunicorn("example_project.wsgi:application", env, ready_path="/health/") as base:
        yield base


def test_the_quickstart_walkthrough_runs_as_printed(example_service):
    run_quickstart(example_service)
