"""The example service as a user runs it: its own settings, migrated from scratch,
served by a real process on SQLite, driven over HTTP like curl would; in production
mode too (DEBUG=0 behind a TLS proxy, static files, ``check --deploy``). And the host
project's side of the contract: its own DRF views answer errors in the contract's shape
through SecureAuth's exception handler, 503 when the database is down."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from unittest import mock

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth.models import Group
from django.core import exceptions as django_exceptions
from django.db import DatabaseError, OperationalError, connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import Http404
from django.test import override_settings
from django.urls import path as route
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from example_project import urls as example_urls
from secureauth.models import AuditEvent
from tests.conftest import PASSWORD, bearer, login
from tests.servers import ROOT, gunicorn

HANDLER = "secureauth.api.exception_handler.exception_handler"


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
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run(
            [sys.executable, "manage.py", *command, "-v0"], cwd=ROOT, env=env, check=True
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


# --- a host project's own DRF views get the contract's error shape --------------------


class _EmailSerializer(serializers.Serializer):
    email = serializers.EmailField()


class HostView(APIView):
    """A view as a host project writes it, with DRF's default classes."""

    errors = {
        "not-found": lambda: exceptions.NotFound(),
        "http404": lambda: Http404("no such thing"),
        "denied": lambda: exceptions.PermissionDenied(),
        "django-denied": lambda: django_exceptions.PermissionDenied(),
        "throttled": lambda: exceptions.Throttled(wait=12.2),
        "boom": lambda: RuntimeError("secret internals at /srv/host.py line 3"),
        "db-error": lambda: DatabaseError("relation host_table does not exist"),
        "outage": lambda: OperationalError('server at "10.0.0.5", port 5432 failed'),
    }

    def get(self, request, kind):
        if kind == "write-then-fail":
            Group.objects.create(name="written-by-a-failed-request")
            raise exceptions.NotFound()
        raise self.errors[kind]()

    def post(self, request, kind):
        serializer = _EmailSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


urlpatterns = [route("host/<str:kind>/", HostView.as_view()), *example_urls.urlpatterns]


@pytest.fixture
def example_urls_with_handler(production_rest_framework):
    with override_settings(
        ROOT_URLCONF="tests.test_example_project", REST_FRAMEWORK=production_rest_framework
    ):
        yield


@pytest.fixture
def production_rest_framework(monkeypatch, tmp_path):
    """The example project's REST_FRAMEWORK, as its settings.py computes it."""
    from tests.test_hygiene import example_settings

    rest_framework = example_settings(
        monkeypatch, tmp_path, SECRET_KEY="s" * 50, ALLOWED_HOSTS="testserver"
    ).REST_FRAMEWORK
    assert rest_framework["EXCEPTION_HANDLER"] == HANDLER
    return rest_framework


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body == {"detail": body["detail"], "code": code}
    assert isinstance(body["detail"], str) and body["detail"]
    return body


@pytest.mark.parametrize(
    "kind, status, code",
    [
        ("not-found", 404, "not_found"),
        ("http404", 404, "not_found"),
        ("denied", 403, "permission_denied"),
        ("django-denied", 403, "permission_denied"),
        ("throttled", 429, "rate_limited"),
        ("boom", 500, "server_error"),
        ("db-error", 500, "server_error"),
        ("outage", 503, "service_unavailable"),
    ],
)
def test_host_view_errors_have_the_contract_shape(
    api, db, example_urls_with_handler, kind, status, code
):
    response = api.get(f"/host/{kind}/")
    body = assert_error(response, status, code)
    assert "secret internals" not in body["detail"] and "host_table" not in body["detail"]
    assert "10.0.0.5" not in response.content.decode()
    if kind == "throttled":
        assert response["Retry-After"] == "13"  # rounded up: never "retry now" too early
    if kind == "outage":
        assert int(response["Retry-After"]) > 0


def test_host_view_bodies_parse_and_validation_errors(api, db, example_urls_with_handler):
    malformed = api.generic("POST", "/host/x/", '{"email": ', content_type="application/json")
    assert_error(malformed, 400, "invalid")
    invalid = api.post("/host/x/", {"email": "not an email"}, format="json")
    assert invalid.status_code == 400
    assert list(invalid.json()) == ["email"]  # DRF's field dict, as the contract says
    assert isinstance(invalid.json()["email"], list)
    assert api.post("/host/x/", {"email": "a@example.com"}, format="json").status_code == 200
    not_allowed = api.delete("/host/x/")
    assert_error(not_allowed, 405, "method_not_allowed")
    assert "POST" in not_allowed["Allow"]


def test_errors_roll_back_atomic_requests_but_refusals_keep_their_audit(
    api, user, example_urls_with_handler
):
    with mock.patch.dict(connection.settings_dict, {"ATOMIC_REQUESTS": True}):
        assert api.get("/host/write-then-fail/").status_code == 404
        refused = api.post(
            "/auth/login/", {"email": user.email, "password": "wrong"}, format="json"
        )
    assert not Group.objects.filter(name="written-by-a-failed-request").exists()
    assert refused.status_code == 401
    assert AuditEvent.objects.filter(event="login_failed").count() == 1
    assert (
        api.post(
            "/auth/login/", {"email": user.email, "password": PASSWORD}, format="json"
        ).status_code
        == 200
    )


def test_the_example_view_answers_the_contract_shape(api, make_user, example_urls_with_handler):
    staff = make_user("staff@example.com", roles=["staff"])
    plain = make_user("plain@example.com")
    anonymous = api.get("/api/example/")
    assert_error(anonymous, 401, "not_authenticated")
    assert anonymous["WWW-Authenticate"] == "Bearer"
    bad_token = api.get("/api/example/", HTTP_AUTHORIZATION="Bearer not-a-jwt")
    assert_error(bad_token, 401, "token_invalid")
    assert bad_token["WWW-Authenticate"] == "Bearer"
    assert_error(
        api.get("/api/example/", **bearer(login(api, plain.email))), 403, "permission_denied"
    )
    tokens = login(api, staff.email)
    assert_error(
        api.post("/api/example/", {}, format="json", **bearer(tokens)), 405, "method_not_allowed"
    )
    assert api.get("/api/example/", **bearer(tokens)).json()["hello"] == staff.get_username()


def _database_down():
    return mock.patch.object(
        BaseDatabaseWrapper,
        "ensure_connection",
        side_effect=OperationalError('connection to server at "127.0.0.1", port 5432 failed'),
    )


def test_health_reports_database_and_cache(api, db, example_urls_with_handler):
    response = api.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"
    assert api.head("/health/").status_code == 200
    assert_error(api.post("/health/"), 405, "method_not_allowed")

    with _database_down():
        down = api.get("/health/")
    body = assert_error(down, 503, "service_unavailable")
    assert "database" in body["detail"] and "5432" not in down.content.decode()
    assert int(down["Retry-After"]) > 0

    from django.core.cache import cache

    # The configured cache, whichever backend it is (local memory, or Redis in CI).
    with mock.patch.object(
        type(cache._connections[cache._alias]),
        "set",
        side_effect=ConnectionError("redis at 10.0.0.9:6379 refused"),
    ):
        no_cache = api.get("/health/")
    body = assert_error(no_cache, 503, "service_unavailable")
    assert "cache" in body["detail"] and "10.0.0.9" not in no_cache.content.decode()

    assert api.get("/health/").status_code == 200  # back up


def test_a_database_outage_is_a_503_on_host_views(api, make_user, example_urls_with_handler):
    staff = make_user("staff@example.com", roles=["staff"])
    tokens = login(api, staff.email)
    with _database_down():
        response = api.get("/api/example/", **bearer(tokens))
    assert_error(response, 503, "service_unavailable")
    assert int(response["Retry-After"]) > 0
    assert "5432" not in response.content.decode()
    assert api.get("/api/example/", **bearer(tokens)).status_code == 200


# --- production: check --deploy, gunicorn with DEBUG=0, static files -------------------


def _ed25519_pem(path) -> str:
    key = Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path)


def _base_env(var) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY")
        and not k.startswith(("SECUREAUTH_", "SECURE_", "GUNICORN", "STATIC_ROOT"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "example_project.settings",
            "SECUREAUTH_VAR_DIR": str(var),
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def _documented_production_variables() -> set[str]:
    """The variables the production run in docs/deployment.md exports."""
    text = (ROOT / "docs" / "deployment.md").read_text()
    block = text.split("## A production run", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    names = set()
    for line in block.splitlines():
        if line.startswith("export "):
            names.update(re.findall(r"([A-Z][A-Z0-9_]*)=", line))
    return names


def test_check_deploy_is_clean_in_the_documented_production_environment(tmp_path):
    production = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        # Not contacted by ``check``; the engines and their drivers must load.
        "DATABASE_URL": "postgres://auth@127.0.0.1:9/auth",
        "REDIS_URL": "redis://127.0.0.1:9/0",
        "ALLOWED_HOSTS": "auth.example.com",
        "BEHIND_TLS_PROXY": "1",
        "SECUREAUTH_NUM_PROXIES": "1",
        "SECUREAUTH_ALGORITHM": "EdDSA",
        "SECUREAUTH_SIGNING_KEY_FILE": _ed25519_pem(tmp_path / "jwt-ed25519.pem"),
        "SECUREAUTH_MFA_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }
    assert set(production) == _documented_production_variables()
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**_base_env(tmp_path), **production},
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output, output
    assert "WARNING" not in output.upper(), output


def _request(base: str, path: str, headers=None, method: str = "GET"):
    """One request, no redirects followed: (status, headers, body)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


#: What the TLS proxy in front adds to every request (docs/deployment.md).
VIA_PROXY = {"X-Forwarded-Proto": "https"}


@pytest.fixture(scope="module")
def production_service(tmp_path_factory):
    """The example service as docs/deployment.md runs it: DEBUG=0 behind a TLS proxy,
    migrated, collectstatic, gunicorn with example_project/gunicorn.conf.py."""
    var = tmp_path_factory.mktemp("production-var")
    env = {
        **_base_env(var),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECUREAUTH_SIGNING_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "BEHIND_TLS_PROXY": "1",
        "GUNICORN_CMD_ARGS": "--config example_project/gunicorn.conf.py",
        "GUNICORN_ACCESSLOG": str(var / "access.log"),
    }
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run(
            [sys.executable, "manage.py", *command, "-v0"], cwd=ROOT, env=env, check=True
        )
    with gunicorn(
        "example_project.wsgi:application", env, workers=2, ready_path="/health/"
    ) as base:
        yield base, var


def _assets(html: str, pattern: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/' + pattern + r')"', html)


def test_production_serves_swagger_ui_and_its_static_files(production_service):
    base, _ = production_service
    status, headers, body = _request(base, "/api/docs/", VIA_PROXY)
    assert status == 200, body
    html = body.decode()
    css = _assets(html, r"drf_spectacular_sidecar/swagger-ui-dist/swagger-ui\.[0-9a-f]+\.css")
    js = _assets(html, r"drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle\.[0-9a-f]+\.js")
    assert css and js, html  # file names with a content hash: cacheable for ever
    for url, content_type in ((css[0], "text/css"), (js[0], "text/javascript")):
        status, headers, body = _request(base, url, {**VIA_PROXY, "Accept-Encoding": "gzip"})
        assert status == 200, url
        assert headers["Content-Type"].startswith(content_type), headers["Content-Type"]
        assert headers["Content-Encoding"] == "gzip"  # compressed at collectstatic
        assert "immutable" in headers["Cache-Control"]
        assert len(body) > 1000
    status, _, _ = _request(base, "/api/schema/?format=json", VIA_PROXY)
    assert status == 200


def test_production_serves_the_admin_with_its_css(production_service):
    base, _ = production_service
    status, headers, body = _request(base, "/admin/login/", VIA_PROXY)
    assert status == 200, body
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    stylesheets = _assets(body.decode(), r"admin/css/[a-z_]+\.[0-9a-f]+\.css")
    assert stylesheets, body
    for url in stylesheets:
        status, headers, _ = _request(base, url, VIA_PROXY)
        assert status == 200, url
        assert headers["Content-Type"].startswith("text/css")
    assert _request(base, "/static/admin/css/nope.css", VIA_PROXY)[0] == 404


def test_production_redirects_plain_http_but_not_the_health_probe(production_service):
    base, _ = production_service
    status, headers, _ = _request(base, "/auth/.well-known/jwks.json")
    assert status == 301
    assert headers["Location"].startswith("https://")
    status, _, body = _request(base, "/health/")
    assert status == 200 and json.loads(body) == {"status": "ok"}


def test_production_host_view_errors_are_json(production_service):
    base, _ = production_service
    status, headers, body = _request(base, "/api/example/", VIA_PROXY)
    assert status == 401
    assert headers["WWW-Authenticate"] == "Bearer"
    assert json.loads(body) == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }


def test_gunicorn_config_limits_and_access_log_without_query_strings(production_service):
    base, var = production_service
    token = secrets.token_urlsafe(16)
    status, _, _ = _request(base, f"/health/?token={token}")
    assert status == 200
    # gunicorn refuses what is past its limits itself, with HTML, before Django runs
    # (hence a proxy in front, docs/deployment.md); the status depends on its version.
    status, headers, _ = _request(base, "/health/?" + "x" * 5000)
    assert status in (400, 414) and headers["Content-Type"].startswith("text/html")
    # 60 headers: accepted by gunicorn's default (100), refused by the config file's 50.
    many = {f"X-Header-{n}": "1" for n in range(60)}
    status, headers, _ = _request(base, "/health/", many)
    assert status in (400, 431) and headers["Content-Type"].startswith("text/html")
    assert _request(base, "/health/", dict(list(many.items())[:40]))[0] == 200
    log = (var / "access.log").read_text()
    assert '"GET /health/ HTTP/1.1" 200' in log
    assert token not in log and "?" not in log
