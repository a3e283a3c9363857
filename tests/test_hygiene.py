"""Password and enumeration hygiene, and the example project's security settings."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest
from django.contrib.auth.hashers import check_password, identify_hasher, make_password
from django.test import override_settings

from secureauth.services import users as user_service
from tests.conftest import PASSWORD, bearer
from tests.servers import ROOT

ARGON2 = "django.contrib.auth.hashers.Argon2PasswordHasher"
SECURITY_SETTINGS = (
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_SSL_REDIRECT",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "X_FRAME_OPTIONS",
    "MIDDLEWARE",
)


def example_settings(monkeypatch, tmp_path, **env) -> ModuleType:
    """A fresh copy of example_project/settings.py evaluated under ``env``."""
    for name in (
        "SECRET_KEY",
        "DEBUG",
        "DATABASE_URL",
        "REDIS_URL",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_PRELOAD",
        "SECURE_SSL_REDIRECT",
        "BEHIND_TLS_PROXY",
        "STATIC_ROOT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECUREAUTH_VAR_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location(
        "example_settings_copy", ROOT / "example_project" / "settings.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def production(monkeypatch, tmp_path):
    return example_settings(monkeypatch, tmp_path, SECRET_KEY="s" * 50, ALLOWED_HOSTS="testserver")


# --- example project settings ---------------------------------------------------------


def test_example_project_hashes_with_argon2_first(production):
    assert production.PASSWORD_HASHERS[0] == ARGON2
    with override_settings(PASSWORD_HASHERS=production.PASSWORD_HASHERS):
        encoded = make_password(PASSWORD)
        assert identify_hasher(encoded).algorithm == "argon2"
        assert check_password(PASSWORD, encoded)


def test_example_project_enforces_django_password_validators(production):
    names = [v["NAME"].rsplit(".", 1)[1] for v in production.AUTH_PASSWORD_VALIDATORS]
    assert names == [
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    ]


def test_example_project_security_headers_settings(production, monkeypatch, tmp_path):
    assert production.DEBUG is False
    assert production.SECURE_HSTS_SECONDS == 31536000
    assert production.SECURE_HSTS_INCLUDE_SUBDOMAINS is True
    assert production.SECURE_CONTENT_TYPE_NOSNIFF is True
    assert production.SECURE_REFERRER_POLICY == "same-origin"
    assert production.SECURE_HSTS_PRELOAD is True
    assert production.SECURE_SSL_REDIRECT is True
    assert production.SESSION_COOKIE_SECURE is True and production.CSRF_COOKIE_SECURE is True
    assert production.MIDDLEWARE[:2] == [
        "django.middleware.security.SecurityMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
    ]
    assert production.STORAGES["staticfiles"]["BACKEND"] == (
        "whitenoise.storage.CompressedManifestStaticFilesStorage"
    )
    assert production.STATIC_ROOT == tmp_path / "static"
    assert production.REST_FRAMEWORK["EXCEPTION_HANDLER"] == (
        "secureauth.api.exception_handler.exception_handler"
    )
    assert not hasattr(production, "SECURE_PROXY_SSL_HEADER")  # only when told so
    behind_proxy = example_settings(
        monkeypatch, tmp_path, SECRET_KEY="s" * 50, ALLOWED_HOSTS="x", BEHIND_TLS_PROXY="1"
    )
    assert behind_proxy.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")
    development = example_settings(monkeypatch, tmp_path, DEBUG="1")
    assert development.DEBUG is True
    assert not getattr(development, "SECURE_HSTS_SECONDS", 0)  # no HSTS on plain-HTTP dev
    assert not getattr(development, "SECURE_SSL_REDIRECT", False)
    # No collectstatic needed to develop: unhashed names, found by the finders.
    assert development.STORAGES["staticfiles"]["BACKEND"].endswith(".StaticFilesStorage")


def test_example_project_refuses_to_start_without_a_key_unless_debug_is_asked_for(
    monkeypatch, tmp_path
):
    from django.core.exceptions import ImproperlyConfigured

    # Real hosts, no key, no DEBUG: it used to turn DEBUG on with a published key.
    with pytest.raises(ImproperlyConfigured):
        example_settings(monkeypatch, tmp_path, ALLOWED_HOSTS="auth.example.com")
    with pytest.raises(ImproperlyConfigured):
        example_settings(monkeypatch, tmp_path, DEBUG="0")


def test_the_development_key_is_random_per_checkout_never_a_published_one(monkeypatch, tmp_path):
    first = example_settings(monkeypatch, tmp_path / "a", DEBUG="1").SECRET_KEY
    again = example_settings(monkeypatch, tmp_path / "a", DEBUG="1").SECRET_KEY
    other = example_settings(monkeypatch, tmp_path / "b", DEBUG="1").SECRET_KEY
    assert first == again  # kept, so tokens survive a restart
    assert first != other and len(first) >= 50
    source = (ROOT / "example_project" / "settings.py").read_text()
    assert first not in source and "development-only-secret-key" not in source


def test_example_urls_send_security_headers_and_no_store(api, make_user, production):
    staff = make_user("staff@example.com", roles=["staff"])
    plain = make_user("plain@example.com")
    overrides = {name: getattr(production, name) for name in SECURITY_SETTINGS}
    with override_settings(ROOT_URLCONF="example_project.urls", **overrides):
        response = api.post(
            "/auth/login/", {"email": staff.email, "password": PASSWORD}, format="json", secure=True
        )
        assert response.status_code == 200
        assert (
            response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
        )
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cache-Control"] == "no-store"
        tokens = response.json()
        refreshed = api.post(
            "/auth/refresh/", {"refresh_token": tokens["refresh_token"]}, format="json", secure=True
        )
        assert refreshed.status_code == 200
        assert refreshed["Cache-Control"] == "no-store"
        registered = api.post(
            "/auth/register/",
            {"email": "n@example.com", "password": PASSWORD},
            format="json",
            secure=True,
        )
        assert registered["Cache-Control"] == "no-store"
        # HSTS only over HTTPS, as the standard requires; plain HTTP is redirected,
        # except the health probe (a load balancer talks to the service directly).
        health = api.get("/health/")
        assert health.status_code == 200
        assert "Strict-Transport-Security" not in health
        insecure = api.post("/auth/login/", {"email": staff.email, "password": PASSWORD})
        assert insecure.status_code == 301
        assert insecure["Location"] == "https://testserver/auth/login/"
        # The example project's own view, protected by a role (docs/roles.md).
        ok = api.get("/api/example/", secure=True, **bearer(tokens))
        assert ok.status_code == 200
        assert ok.json() == {"hello": staff.get_username(), "amr": ["pwd"]}
        assert ok["X-Content-Type-Options"] == "nosniff"
        plain_tokens = api.post(
            "/auth/login/", {"email": plain.email, "password": PASSWORD}, format="json", secure=True
        ).json()
        refused = api.get("/api/example/", secure=True, **bearer(plain_tokens))
        assert refused.status_code == 403
        assert api.get("/api/example/", secure=True).status_code == 401


# --- registration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "password, fragment",
    [
        ("short", "too short"),
        ("12345678901234", "entirely numeric"),
        ("password123", "too common"),
        ("alice.smith@example.com", "too similar"),
    ],
)
def test_register_enforces_password_validators(api, db, password, fragment):
    response = api.post(
        "/auth/register/",
        {"email": "alice.smith@example.com", "password": password},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["password"]
    assert any(fragment in message for message in body["password"]), body


def test_register_with_a_taken_email_is_409(api, user):
    response = api.post(
        "/auth/register/", {"email": "ALICE@example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 409
    assert response.json() == {
        "detail": "An account with this email already exists.",
        "code": "email_taken",
    }


# --- login: unknown email vs wrong password --------------------------------------------


@pytest.fixture
def hash_calls(monkeypatch):
    calls: list[str] = []
    real = user_service.check_password

    def spy(password, encoded, *args, **kwargs):
        calls.append(encoded)
        return real(password, encoded, *args, **kwargs)

    monkeypatch.setattr(user_service, "check_password", spy)
    return calls


def test_unknown_email_spends_a_hash_check_on_a_dummy(api, db, hash_calls):
    response = api.post(
        "/auth/login/", {"email": "ghost@example.com", "password": "whatever"}, format="json"
    )
    assert response.status_code == 401
    assert len(hash_calls) == 1
    assert identify_hasher(hash_calls[0]).algorithm == "md5"  # the tests' hasher


def test_dummy_hash_uses_the_configured_hasher(api, db, hash_calls):
    with override_settings(PASSWORD_HASHERS=[ARGON2]):
        api.post("/auth/login/", {"email": "ghost@example.com", "password": "x"}, format="json")
    assert hash_calls[0].startswith("argon2$")


def test_account_without_usable_password_also_spends_the_dummy_check(api, make_user, hash_calls):
    social_only = make_user("social@example.com")
    social_only.set_unusable_password()
    social_only.save()
    response = api.post(
        "/auth/login/", {"email": social_only.email, "password": "x"}, format="json"
    )
    assert response.status_code == 401
    assert len(hash_calls) == 1


def test_every_refusal_has_the_same_401_body(api, make_user):
    make_user("real@example.com")
    make_user("disabled@example.com", is_active=False)
    bodies = [
        api.post("/auth/login/", {"email": email, "password": password}, format="json")
        for email, password in [
            ("real@example.com", "wrong"),
            ("nobody@example.com", "wrong"),
            ("disabled@example.com", PASSWORD),
        ]
    ]
    assert {r.status_code for r in bodies} == {401}
    assert all(
        r.json() == {"detail": "Invalid email or password.", "code": "invalid_credentials"}
        for r in bodies
    )
    assert len({tuple(sorted(r.headers.items())) for r in bodies}) == 1


def test_manage_py_runs_keyless_commands_but_never_serves_without_a_key(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    env.update(SECUREAUTH_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="example_project.settings")

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert manage("makemigrations", "--check", "--dry-run").returncode == 0
    served = manage("runserver", "127.0.0.1:0", "--noreload")
    assert served.returncode != 0
    assert "Set SECRET_KEY (or DEBUG=1" in served.stderr
