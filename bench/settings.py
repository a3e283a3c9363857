"""Settings of the benchmark project: SecureAuth and simplejwt side by side.

Both use the same user table, password hasher, signing algorithm (HS256),
middleware and DRF renderer/parser, so the difference measured is the
authentication code itself.

Environment:
  DATABASE_URL   PostgreSQL (default: a SQLite file, BENCH_SQLITE_PATH)
  REDIS_URL      Redis cache (default: local-memory cache)
  BENCH_HASHER   argon2 (default, as the example project) | pbkdf2 | md5
  BENCH_PG_PREPARED=1  PostgreSQL only: server-side binding, statements prepared
                 after 5 executions (Django's default: client-side binding, none)
"""

import os

import dj_database_url

SECRET_KEY = "bench-secret-key-not-for-production-0123456789-abcdefghijklmnopqrstuvwxyz"
JWT_KEY = "bench-jwt-signing-key-shared-by-both-implementations-0123456789"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "bench.urls"
WSGI_APPLICATION = "bench.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "social_django",
    "secureauth",
]

# An API service's middleware, identical for every view measured.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

SQLITE_PATH = os.environ.get("BENCH_SQLITE_PATH", "/tmp/secureauth-bench.sqlite3")
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    # Persistent connections, as a production deployment would use.
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=600)}
    if os.environ.get("BENCH_PG_PREPARED"):
        DATABASES["default"]["OPTIONS"] = {"server_side_binding": True, "prepare_threshold": 5}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            "CONN_MAX_AGE": None,
            # The example project's SQLite options.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "secureauth-bench",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Django's hashers with a clock around verify() (bench/hashers.py), same parameters.
HASHERS = {
    "argon2": "bench.hashers.Argon2PasswordHasher",
    "pbkdf2": "bench.hashers.PBKDF2PasswordHasher",
    "md5": "bench.hashers.MD5PasswordHasher",
}
PASSWORD_HASHERS = [HASHERS[os.environ.get("BENCH_HASHER", "argon2")]]
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_THROTTLE_CLASSES": [],
}

SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_KEY,
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

SECUREAUTH = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_KEY,
    "ISSUER": "https://auth.bench",
    "AUDIENCE": "bench",
    # As behind one reverse proxy: the HTTP mode sends each login user's requests from
    # its own X-Forwarded-For address (a documentation range, never contacted).
    "NUM_PROXIES": 1,
    # Rate limiting stays on (it is part of the cost of a SecureAuth refresh), with
    # limits no benchmark reaches.
    "RATE_LIMITS": {"refresh": "10000000/m", "register": "10000000/m"},
}

LOGGING_CONFIG = None
