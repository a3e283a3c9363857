"""Settings for SecureAuth's own test suite (not the example project's).

Default: SQLite + local-memory cache. ``DATABASE_URL`` (PostgreSQL) and
``REDIS_URL`` select real servers. ``TEST_DB_SUFFIX`` keeps parallel runs apart.
"""

import os

import dj_database_url

SECRET_KEY = "tests-secret-key-that-is-long-enough-for-hmac-sha256-0123456789"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

_suffix = os.environ.get("TEST_DB_SUFFIX", "main")
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
    DATABASES["default"]["TEST"] = {"NAME": f"test_secureauth_{_suffix}"}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": f"/tmp/secureauth-tests-{_suffix}.sqlite3",
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
            "TEST": {"NAME": f"/tmp/secureauth-tests-{_suffix}.sqlite3"},
        }
    }

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            # Processes that must share counters (multi-server tests) pass one prefix.
            "KEY_PREFIX": os.environ.get("TEST_CACHE_KEY_PREFIX")
            or f"sa-test-{_suffix}-{os.getpid()}",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Fast hashing in tests; the example project uses Argon2 (tested separately).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
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
# Social login (tests/test_social*.py point the OIDC endpoint at a local provider).
SOCIAL_AUTH_OIDC_OIDC_ENDPOINT = "http://127.0.0.1:9/unset"
SOCIAL_AUTH_OIDC_KEY = "secureauth-tests"
SOCIAL_AUTH_OIDC_SECRET = "oidc-test-secret"
SOCIAL_AUTH_GOOGLE_OAUTH2_KEY = "google-client-id"
SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET = "google-client-secret"
SOCIAL_AUTH_GITHUB_KEY = "github-client-id"
SOCIAL_AUTH_GITHUB_SECRET = "github-client-secret"
SOCIAL_AUTH_GITHUB_SCOPE = ["user:email"]

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STATIC_URL = "static/"
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
SPECTACULAR_SETTINGS = {
    "TITLE": "SecureAuth API",
    "VERSION": "1.0.0",
    "COMPONENT_SPLIT_REQUEST": True,
}

SECUREAUTH = {
    # Mail is delivered in the request thread after commit, so tests read the outbox
    # at once (tests/test_notifications.py covers the background thread).
    "SEND_MAIL_IN_BACKGROUND": False,
    "ISSUER": "https://auth.test",
    "AUDIENCE": "secureauth-tests",
    "RATE_LIMITS": {"register": "1000/m", "refresh": "1000/m", "mfa_verify": "1000/m"},
}
SILENCED_SYSTEM_CHECKS = ["secureauth.W001"]
LOGGING_CONFIG = None
