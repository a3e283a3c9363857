"""Settings of the example SecureAuth service, read from the environment.

With nothing set but DEBUG=1 it runs on SQLite and the local-memory cache, with a
random development key kept in var/ (without SECRET_KEY and DEBUG=1 it refuses to
start). Production (docs/deployment.md): set SECRET_KEY, DATABASE_URL (PostgreSQL),
REDIS_URL, ALLOWED_HOSTS, BEHIND_TLS_PROXY and SECUREAUTH_* below, run
``collectstatic`` and gunicorn with ``example_project/gunicorn.conf.py`` behind a
proxy; ``manage.py check --deploy`` is then clean.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def development_secret_key(path: Path) -> str:
    """A random key made once for this checkout (never a key published in the source:
    refresh-token children and signed links derive from SECRET_KEY)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


VAR_DIR = Path(os.environ.get("SECUREAUTH_VAR_DIR", BASE_DIR / "var"))

SECRET_KEY = os.environ.get("SECRET_KEY", "")
# DEBUG is off unless DEBUG=1 is set explicitly (``python3 dev.py serve`` does).
DEBUG = env_bool("DEBUG", default=False)
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=1 for a local development service).")
    SECRET_KEY = development_secret_key(VAR_DIR / "dev-secret-key")
# Where people open the service in a browser: the account pages (PUBLIC_URL/account/),
# the links in mail and WebAuthn (relying-party id and origin) follow it. A host name, not
# an IP address: WebAuthn refuses IP addresses (http://127.0.0.1 redirects to localhost).
PUBLIC_URL = os.environ.get("PUBLIC_URL", "http://localhost:8000").rstrip("/")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "social_django",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "secureauth",
    "example_project",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (admin, Swagger UI) from STATIC_ROOT, before anything touches the session.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A database outage on any view (admin, API docs, the host's own) is a JSON 503.
    "secureauth.middleware.DatabaseUnavailableMiddleware",
    # http://127.0.0.1:PORT/account/ -> http://localhost:PORT/account/ (passkeys need a name).
    "example_project.middleware.LoopbackToLocalhostMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

REDIS_URL = os.environ.get("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            # Several services (or a benchmark) sharing one Redis database keep apart.
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", ""),
            # A hung Redis costs a request at most the socket timeout, once: after a
            # failure each process leaves the cache alone for SECUREAUTH_CACHE_DOWN_SECONDS.
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": float(os.environ.get("REDIS_SOCKET_TIMEOUT", "1")),
                "SOCKET_TIMEOUT": float(os.environ.get("REDIS_SOCKET_TIMEOUT", "1")),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "social_core.backends.open_id_connect.OpenIdConnectAuth",
    "social_core.backends.google.GoogleOAuth2",
    "social_core.backends.github.GithubOAuth2",
    "django.contrib.auth.backends.ModelBackend",
]
# Social login (docs/social.md): client id and secret per provider; the generic
# OpenID Connect backend discovers everything else from the issuer URL.
SOCIAL_AUTH_OIDC_OIDC_ENDPOINT = os.environ.get("SOCIAL_AUTH_OIDC_OIDC_ENDPOINT", "")
SOCIAL_AUTH_OIDC_KEY = os.environ.get("SOCIAL_AUTH_OIDC_KEY", "")
SOCIAL_AUTH_OIDC_SECRET = os.environ.get("SOCIAL_AUTH_OIDC_SECRET", "")
SOCIAL_AUTH_GOOGLE_OAUTH2_KEY = os.environ.get("SOCIAL_AUTH_GOOGLE_OAUTH2_KEY", "")
SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET = os.environ.get("SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET", "")
SOCIAL_AUTH_GITHUB_KEY = os.environ.get("SOCIAL_AUTH_GITHUB_KEY", "")
SOCIAL_AUTH_GITHUB_SECRET = os.environ.get("SOCIAL_AUTH_GITHUB_SECRET", "")
SOCIAL_AUTH_GITHUB_SCOPE = ["user:email"]  # to see whether the primary email is verified

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# Filled by ``manage.py collectstatic`` (``python3 dev.py serve`` runs it) and served by
# whitenoise. Outside DEBUG, file names carry a hash of their content (cached forever)
# and are served compressed; a missing collectstatic then fails loudly, not with
# unstyled pages.
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Security headers and HTTPS (``manage.py check --deploy`` is clean outside DEBUG).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
if not DEBUG:
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # The directive only allows submitting the domain to browsers' preload list;
    # nothing happens until its owner does (docs/deployment.md).
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    # Plain HTTP is redirected to HTTPS, except the health probe of a load balancer
    # or orchestrator that talks to the service directly.
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^health/$"]
if env_bool("BEHIND_TLS_PROXY"):
    # The proxy terminates TLS and sets X-Forwarded-Proto (and overwrites a client's).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "no-reply@localhost")

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # The service's own views answer errors in the contract's {"detail", "code"} shape
    # (503 on a database outage), as SecureAuth's views do.
    "EXCEPTION_HANDLER": "secureauth.api.exception_handler.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SecureAuth API",
    "DESCRIPTION": "Authentication service: tokens, sessions, MFA, passkeys, social login.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}


def _read_key_file(path: str | None) -> str | None:
    return Path(path).read_text() if path else None


SECUREAUTH = {
    key: value
    for key, value in {
        "ALGORITHM": os.environ.get("SECUREAUTH_ALGORITHM"),
        "SIGNING_KEY": os.environ.get("SECUREAUTH_SIGNING_KEY"),
        "SIGNING_KEY_FILE": os.environ.get("SECUREAUTH_SIGNING_KEY_FILE"),
        "ISSUER": os.environ.get("SECUREAUTH_ISSUER"),
        "AUDIENCE": os.environ.get("SECUREAUTH_AUDIENCE"),
        "NUM_PROXIES": int(os.environ.get("SECUREAUTH_NUM_PROXIES", "0")),
        "RATE_LIMIT_FAIL_OPEN": env_bool("SECUREAUTH_RATE_LIMIT_FAIL_OPEN"),
        "CACHE_DOWN_SECONDS": int(os.environ.get("SECUREAUTH_CACHE_DOWN_SECONDS", "5")),
        "REFRESH_TOKEN_COOKIE": env_bool("SECUREAUTH_REFRESH_TOKEN_COOKIE"),
        "REFRESH_COOKIE_SECURE": env_bool("SECUREAUTH_REFRESH_COOKIE_SECURE", True),
        "FRONTEND_URL": os.environ.get("SECUREAUTH_FRONTEND_URL", f"{PUBLIC_URL}/account"),
        "WEBAUTHN_RP_ID": os.environ.get(
            "SECUREAUTH_WEBAUTHN_RP_ID", urlsplit(PUBLIC_URL).hostname
        ),
        "WEBAUTHN_ORIGINS": env_list("SECUREAUTH_WEBAUTHN_ORIGINS") or [PUBLIC_URL],
        "MFA_ENCRYPTION_KEYS": env_list("SECUREAUTH_MFA_ENCRYPTION_KEYS") or None,
    }.items()
    if value is not None
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "secureauth": {
            "handlers": ["console"],
            "level": os.environ.get("SECUREAUTH_LOG_LEVEL", "INFO"),
        },
    },
}
