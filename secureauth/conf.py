"""The one settings object of SecureAuth.

Every setting is read through ``app_settings``: defaults below, overridden by
the host project's ``SECUREAUTH`` dict. The object reloads itself in place when
``SECUREAUTH`` (or ``SECRET_KEY``) changes, so ``override_settings`` works in
tests. Durations accept a ``timedelta`` or a number of seconds and are exposed
as ``timedelta``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

DURATIONS = {
    "ACCESS_TOKEN_LIFETIME",
    "REFRESH_TOKEN_LIFETIME",
    "SESSION_MAX_AGE",
    "LOGIN_BACKOFF_BASE",
    "LOGIN_BACKOFF_MAX",
    "LOGIN_FAILURE_WINDOW",
    "MFA_TOKEN_LIFETIME",
    "PASSKEY_CHALLENGE_LIFETIME",
    "CLEANUP_RETENTION",
    "SESSION_CACHE_TTL",
    "NEW_DEVICE_WINDOW",
    "SESSION_REPORT_LINK_LIFETIME",
    "REAUTH_MAX_AGE",
    "MAGIC_LINK_LIFETIME",
    "DPOP_PROOF_MAX_AGE",
    "DPOP_CLOCK_SKEW",
    "DPOP_NONCE_LIFETIME",
}

DEFAULTS: dict[str, Any] = {
    # The host project's hooks (secureauth.adapter.DefaultAdapter or a subclass)
    "ADAPTER": "secureauth.adapter.DefaultAdapter",
    # Access tokens (JWT)
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "ALGORITHM": "HS256",
    "SIGNING_KEY": None,  # HMAC secret, or PEM private key for EdDSA/ES256/RS256
    "SIGNING_KEY_FILE": None,  # path to a PEM private key (instead of SIGNING_KEY)
    "KEY_ID": None,  # `kid` of the signing key; derived from the key when unset
    "VERIFYING_KEYS": [],  # retired keys still accepted: [{"kid", "algorithm", "key"}]
    "ISSUER": "secureauth",
    "AUDIENCE": "secureauth",
    "LEEWAY_SECONDS": 0,
    # Refresh tokens and sessions
    "REFRESH_TOKEN_LIFETIME": timedelta(days=14),  # idle timeout
    "SESSION_MAX_AGE": timedelta(days=30),  # absolute lifetime of a session
    "REFRESH_REUSE_GRACE_SECONDS": 10,
    "REFRESH_TOKEN_HMAC_KEY": None,  # key deriving a child token from its parent
    "REFRESH_TOKEN_COOKIE": False,
    "REFRESH_COOKIE_NAME": "secureauth_refresh",
    "REFRESH_COOKIE_PATH": None,  # defaults to the URL the app is mounted at
    "REFRESH_COOKIE_DOMAIN": None,
    "REFRESH_COOKIE_SECURE": True,
    # Requests
    "NUM_PROXIES": 0,
    "MAX_REQUEST_BYTES": 64 * 1024,
    # Login protection
    "LOGIN_FAILURES_ALLOWED": 5,
    "LOGIN_NETWORK_FAILURES_ALLOWED": 50,  # per IPv6 /48
    "LOGIN_BACKOFF_BASE": 30,
    "LOGIN_BACKOFF_MAX": timedelta(minutes=15),
    "LOGIN_FAILURE_WINDOW": timedelta(hours=1),
    "ACCOUNT_FAILURES_PER_HOUR": 100,
    "RATE_LIMIT_FAIL_OPEN": False,
    "RATE_LIMIT_CACHE": None,  # cache alias; None: django-ratelimit's RATELIMIT_USE_CACHE
    "CACHE_DOWN_SECONDS": 5,  # after a cache error, this process skips that cache so long
    "RATE_LIMITS": {
        "register": "10/h",
        "refresh": "60/m",
        "password_reset": "5/h",
        "mfa_verify": "10/m",
        "email_verify_resend": "3/h",
        "passkey_login": "30/m",
        "social_login": "30/m",
        "session_report": "30/h",
        "magic_link": "10/h",  # magic-link/ per client IP
        "magic_link_email": "5/h",  # magic-link/ per email address
        "magic_link_confirm": "30/m",  # magic-link/confirm/ per client IP and per address
    },
    # Accounts
    "ALLOW_UNVERIFIED_LOGIN": True,
    "SEND_MAIL_IN_BACKGROUND": True,  # deliver mail from a background thread
    "NEW_DEVICE_WINDOW": timedelta(days=90),
    "SESSION_REPORT_LINK_LIFETIME": timedelta(hours=24),
    "SESSION_REPORT_URL": "{frontend}/report-session?token={token}",
    "FRONTEND_URL": "http://localhost:3000",
    "PASSWORD_RESET_URL": "{frontend}/reset-password?uid={uid}&token={token}",
    "EMAIL_VERIFY_URL": "{frontend}/verify-email?uid={uid}&token={token}",
    # Email sign-in links
    "MAGIC_LINK_LIFETIME": timedelta(minutes=15),
    "MAGIC_LINK_URL": "{frontend}/magic-link?token={token}",
    # Sender-constrained tokens (DPoP, RFC 9449)
    "DPOP_REQUIRED": False,  # sign-ins without a DPoP proof are refused
    "DPOP_ALGORITHMS": ["ES256", "EdDSA", "RS256", "PS256"],  # asymmetric only
    "DPOP_PROOF_MAX_AGE": timedelta(seconds=300),  # a proof's iat window (and jti memory)
    "DPOP_CLOCK_SKEW": timedelta(seconds=5),  # how far in the future a proof's iat may be
    "DPOP_NONCE": False,  # proofs must carry a server nonce (DPoP-Nonce header)
    "DPOP_NONCE_LIFETIME": timedelta(minutes=5),
    "DPOP_CACHE": "default",  # cache alias remembering proofs' jti (shared by all processes)
    # Re-authentication
    "REAUTH_MAX_AGE": timedelta(seconds=300),
    # MFA and passkeys
    "MFA_TOKEN_LIFETIME": timedelta(minutes=5),
    "MFA_MAX_ATTEMPTS": 5,
    "TOTP_ISSUER": "SecureAuth",
    "RECOVERY_CODE_COUNT": 10,
    # AEAD keys sealing TOTP seeds at rest (base64 of 32 bytes): the first seals, all
    # open. Empty: a key derived from SECRET_KEY (docs/mfa.md, "Seeds at rest").
    "MFA_ENCRYPTION_KEYS": [],
    "WEBAUTHN_RP_ID": "localhost",
    "WEBAUTHN_RP_NAME": "SecureAuth",
    "WEBAUTHN_ORIGINS": ["http://localhost:3000"],
    "PASSKEY_CHALLENGE_LIFETIME": timedelta(minutes=5),
    # Social login
    "SOCIAL_AUTO_LINK_VERIFIED_EMAIL": True,
    "SOCIAL_TRUST_PROVIDER_MFA": False,
    "SOCIAL_PIPELINE": None,  # None: secureauth.social.pipeline.PIPELINE
    # Operations
    "AUDIT_RETENTION_DAYS": 365,
    "CLEANUP_RETENTION": timedelta(days=30),
    "CLEANUP_BATCH_SIZE": 1000,
    # Session state in a shared cache (secureauth/session_cache.py): None = on when the
    # cache is shared between processes (Redis, Memcached), never for a local-memory one.
    "SESSION_CACHE": None,
    "SESSION_CACHE_ALIAS": "default",
    "SESSION_CACHE_TTL": timedelta(minutes=5),
}


def as_timedelta(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    return timedelta(seconds=float(value))


class AppSettings:
    """Attribute access to SecureAuth settings, with a memo cleared on reload."""

    def __init__(self) -> None:
        self._cached: dict[str, Any] = {}
        self._memo: dict[str, Any] = {}

    @property
    def user_settings(self) -> dict[str, Any]:
        return getattr(settings, "SECUREAUTH", None) or {}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown SecureAuth setting: {name}")
        if name not in self._cached:
            value = self.user_settings.get(name, DEFAULTS[name])
            if name in DURATIONS:
                value = as_timedelta(value)
            elif name == "RATE_LIMITS":
                value = {**DEFAULTS["RATE_LIMITS"], **(value or {})}
            self._cached[name] = value
        return self._cached[name]

    def memo(self, key: str, factory: Callable[[], Any]) -> Any:
        """Cache a value derived from settings (a key set, say) until the next reload."""
        if key not in self._memo:
            self._memo[key] = factory()
        return self._memo[key]

    def reload(self) -> None:
        self._cached.clear()
        self._memo.clear()


app_settings = AppSettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting in ("SECUREAUTH", "SECRET_KEY", "AUTH_USER_MODEL"):
        app_settings.reload()


setting_changed.connect(_reload)
