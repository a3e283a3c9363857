"""``python -m secureauth startservice NAME [DIRECTORY]`` writes a service that works.

The generated project passes ``manage.py check`` (and ``check --deploy`` with the
production environment it documents), migrates, serves under gunicorn in production
mode behind a TLS proxy and signs users up and in over HTTP, configured only from the
environment, every variable of which ``.env.example`` lists. Bad names and existing
directories are refused with a message, writing nothing.
"""

from __future__ import annotations

import base64
import re
import secrets
import stat
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest

from secureauth.scaffold import FILES
from tests.servers import free_port
from tests.test_readme import (
    call,
    claims,
    run,
    serving,
    sign_up_and_in,
    subprocess_env,
    wait_for_text,
)

pytestmark = [pytest.mark.readme, pytest.mark.servers]

NAME = "authsvc"
PROXY = {"X-Forwarded-Proto": "https"}  # what the TLS-terminating proxy adds
#: The production environment the generated README documents.
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "SECUREAUTH_SIGNING_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "BEHIND_TLS_PROXY": "1",
    "SECUREAUTH_ISSUER": "https://auth.example.test",
    "SECUREAUTH_AUDIENCE": "authsvc-clients",
    "SECUREAUTH_MFA_ENCRYPTION_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
}
ENV_NAME = re.compile(r"""\benv(?:_bool|_int|_list)?\(\s*"([A-Z][A-Z0-9_]*)\"""")


def startservice(*args: str, cwd):
    return run([sys.executable, "-m", "secureauth", *args], cwd, subprocess_env(), check=False)


def manage(project, *args: str, check: bool = True, **env: str):
    command = [sys.executable, "manage.py", *args]
    return run(command, project, subprocess_env(**env), check=check)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("startservice")
    result = startservice("startservice", NAME, cwd=tmp)
    assert result.returncode == 0, result.stderr
    assert f"Created the SecureAuth service '{NAME}'" in result.stdout
    return tmp / NAME


@pytest.fixture(scope="module")
def served(service, tmp_path_factory):
    """The service in production mode (DEBUG=0, behind a TLS proxy), under gunicorn."""
    var = tmp_path_factory.mktemp("startservice-var")
    env = {
        **PRODUCTION,
        "DATABASE_URL": f"sqlite:///{var / 'production.sqlite3'}",
        "STATIC_ROOT": str(var / "static"),
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
    }
    # The two deployment steps, side by side (collectstatic needs no database).
    steps = [
        subprocess.Popen(
            [sys.executable, "manage.py", step, "--noinput", "-v0"],
            cwd=service,
            env=subprocess_env(**env),
        )
        for step in ("migrate", "collectstatic")
    ]
    assert [step.wait(timeout=120) for step in steps] == [0, 0]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = var / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", f"{NAME}.wsgi", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", "2", "--log-level", "warning"]
    with serving(command, service, subprocess_env(**env), base, log, ready="/health/"):
        yield {"base": base, "log": log}


def test_it_writes_a_complete_project(service):
    written = {
        str(path.relative_to(service))
        for path in service.rglob("*")
        if path.is_file() and not {"var", "__pycache__"} & set(path.relative_to(service).parts)
    }
    assert written == {path.format(name=NAME) for path in FILES.values()}
    assert written >= {"manage.py", ".env.example", "README.md", f"{NAME}/settings.py"}
    assert (service / "manage.py").stat().st_mode & stat.S_IXUSR
    for relative in written:
        assert "{{" not in (service / relative).read_text(), relative
    assert f"gunicorn {NAME}.wsgi" in (service / "README.md").read_text()
    # Every template is written (and so is in the package data pattern's directory).
    templates = Path(str(files("secureauth.scaffold") / "templates"))
    shipped = {path.relative_to(templates).as_posix() for path in templates.rglob("*")}
    assert {name for name in shipped if (templates / name).is_file()} == set(FILES)


def test_env_example_lists_every_variable_the_settings_read(service):
    settings = (service / NAME / "settings.py").read_text()
    read = set(ENV_NAME.findall(settings))
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (service / ".env.example").read_text(), re.M))
    assert read == listed
    assert {"SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"} <= read
    assert {"SECUREAUTH_ISSUER", "SECUREAUTH_AUDIENCE", "EMAIL_BACKEND", "EMAIL_HOST"} <= read


def test_check_passes_and_production_needs_a_secret_key(service):
    development = manage(service, "check", DEBUG="1")
    assert "System check identified no issues" in development.stdout
    key = service / "var" / "dev-secret-key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600  # made once, readable by its owner
    refused = manage(service, "check", check=False)
    assert refused.returncode != 0
    assert "Set SECRET_KEY (see .env.example), or DEBUG=1" in refused.stderr
    deploy = manage(service, "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert "System check identified no issues" in deploy.stdout


def test_a_dotenv_file_is_read_and_the_environment_wins(tmp_path):
    assert startservice("startservice", "dotenvsvc", cwd=tmp_path).returncode == 0
    project = tmp_path / "dotenvsvc"
    (project / ".env").write_text(
        '# written by hand\nSECRET_KEY="from-the-dotenv-file-0123456789"\nexport DEBUG=0\n'
    )
    script = "from django.conf import settings; print(settings.SECRET_KEY, settings.DEBUG)"
    result = manage(project, "shell", "-v0", "-c", script)
    assert result.stdout.split() == ["from-the-dotenv-file-0123456789", "False"]
    result = manage(project, "shell", "-v0", "-c", script, SECRET_KEY="from-the-environment")
    assert result.stdout.split() == ["from-the-environment", "False"]


def test_the_service_signs_users_up_and_in(served):
    tokens = sign_up_and_in(served["base"], "ada@example.com", headers=PROXY)
    token_claims = claims(tokens["access_token"])
    assert token_claims["iss"] == PRODUCTION["SECUREAUTH_ISSUER"]
    assert token_claims["aud"] == PRODUCTION["SECUREAUTH_AUDIENCE"]
    status, _, jwks = call(served["base"], "GET", "/auth/.well-known/jwks.json", headers=PROXY)
    assert status == 200 and "keys" in jwks
    assert "Confirm your email address" in wait_for_text(served["log"], "Confirm your email")


def test_production_mode_behind_the_proxy(served):
    base = served["base"]
    status, answer, body = call(base, "GET", "/health/")  # the probe needs no TLS
    assert (status, body) == (200, {"status": "ok"})
    assert answer["Cache-Control"] == "no-store"
    status, answer, _ = call(base, "GET", "/auth/me/")  # plain HTTP goes to HTTPS
    assert status == 301 and answer["Location"].startswith("https://")
    status, answer, _ = call(base, "GET", "/auth/me/", headers=PROXY)
    assert answer["Strict-Transport-Security"].startswith("max-age=31536000")
    status, _, body = call(base, "GET", "/nowhere/", headers=PROXY)
    assert (status, body) == (404, {"detail": "Not found.", "code": "not_found"})
    status, _, _ = call(base, "GET", "/admin/login/", headers=PROXY)
    assert status == 200  # rendered with the collected, hashed static files


def test_help_prints_the_usage(tmp_path):
    result = startservice("--help", cwd=tmp_path)
    assert result.returncode == 0 and "startservice" in result.stdout
    result = startservice("startservice", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "NAME [DIRECTORY]" in result.stdout and ".env.example" in result.stdout
    assert startservice(cwd=tmp_path).returncode != 0  # a command is needed
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("my-service", "is not a valid service name: use a Python identifier"),
        ("9lives", "is not a valid service name"),
        ("class", "is a Python keyword"),
        ("json", "is the name of an existing Python module"),
        ("secureauth", "is the name of an existing Python module"),
    ],
)
def test_a_bad_name_is_refused(tmp_path, name, message):
    result = startservice("startservice", name, cwd=tmp_path)
    assert result.returncode != 0
    assert f"'{name}' {message}" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_directory_is_never_overwritten(tmp_path):
    (tmp_path / NAME).mkdir()
    (tmp_path / NAME / "manage.py").write_text("mine\n")
    for args in ([NAME], ["othersvc", NAME]):
        result = startservice("startservice", *args, cwd=tmp_path)
        assert result.returncode != 0
        assert f"'{NAME}' already exists and is not an empty directory" in result.stderr
    assert [path.name for path in (tmp_path / NAME).iterdir()] == ["manage.py"]
    assert (tmp_path / NAME / "manage.py").read_text() == "mine\n"
    (tmp_path / "a-file").write_text("")
    assert startservice("startservice", NAME, "a-file", cwd=tmp_path).returncode != 0


def test_an_empty_directory_is_filled(tmp_path):
    (tmp_path / "here").mkdir()
    result = startservice("startservice", NAME, "here", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "here" / NAME / "settings.py").exists()
