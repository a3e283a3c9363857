"""System checks, with codes (docs/operations.md, "System checks"): missing apps,
unusable keys and caches, unknown settings, the adapter and the order of
INSTALLED_APPS; the user model and password hashers are checked in
``checks_users.py`` (imported here, so one import registers every check).

Everything reported here would otherwise be a 500 at run time, or a setting silently
ignored: ``manage.py check`` (and ``migrate``, ``runserver``) names it first.
"""

from __future__ import annotations

import difflib
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from .checks_users import (  # noqa: F401  (registered on import; re-exported)
    _configured_adapter,
    check_password_hashers,
    check_user_model,
    user_model_errors,
)

REQUIRED_APPS = {
    "django.contrib.auth": "secureauth.E001",
    "django.contrib.contenttypes": "secureauth.E001",
    "rest_framework": "secureauth.E002",
    "django_otp": "secureauth.E003",
    "django_otp.plugins.otp_totp": "secureauth.E003",
    "django_otp.plugins.otp_static": "secureauth.E003",
}


@register(Tags.compatibility)
def check_installed_apps(app_configs, **kwargs):
    errors = []
    for app, code in REQUIRED_APPS.items():
        if not apps.is_installed(app):
            errors.append(Error(f"SecureAuth needs '{app}' in INSTALLED_APPS.", id=code))
    return errors


@register(Tags.security)
def check_keys(app_configs, **kwargs):
    from .conf import app_settings
    from .tokens import keyset

    try:
        keyset()
    except (ImproperlyConfigured, OSError, KeyError) as exc:
        return [Error(f"SecureAuth signing keys are unusable: {exc}", id="secureauth.E010")]
    messages = []
    if (
        app_settings.ALGORITHM.startswith("HS")
        and not app_settings.SIGNING_KEY
        and not settings.DEBUG
    ):
        messages.append(
            Warning(
                "SecureAuth signs access tokens with SECRET_KEY; set SECUREAUTH['SIGNING_KEY'] "
                "to a dedicated secret (or an asymmetric key) in production.",
                id="secureauth.W001",
            )
        )
    return messages


@register(Tags.caches, Tags.security)
def check_rate_limit_cache(app_configs, **kwargs):
    """The login limiter and django-ratelimit's fixed windows must count in one real cache."""
    from .conf import app_settings
    from .throttling import rate_limit_cache_alias

    alias = rate_limit_cache_alias()
    if alias not in settings.CACHES:
        message = f"SecureAuth rate-limit cache '{alias}' is not in CACHES."
        return [Error(message, id="secureauth.E020")]
    messages = []
    ratelimit_alias = getattr(settings, "RATELIMIT_USE_CACHE", "default")
    if app_settings.RATE_LIMIT_CACHE and app_settings.RATE_LIMIT_CACHE != ratelimit_alias:
        messages.append(
            Warning(
                f"SECUREAUTH['RATE_LIMIT_CACHE'] is '{alias}' but RATELIMIT_USE_CACHE is "
                f"'{ratelimit_alias}': fixed-window limits count in another cache.",
                hint="Set RATELIMIT_USE_CACHE to the same alias.",
                id="secureauth.W020",
            )
        )
    if str(settings.CACHES[alias].get("BACKEND", "")).endswith("DummyCache"):
        messages.append(
            Warning(
                f"SecureAuth rate-limit cache '{alias}' is a DummyCache: nothing is rate limited.",
                id="secureauth.W021",
            )
        )
    return messages


@register(Tags.security)
def check_mfa_encryption_keys(app_configs, **kwargs) -> list[CheckMessage]:
    """MFA_ENCRYPTION_KEYS seals the TOTP seeds: a bad entry would fail every TOTP setup
    and check at run time."""
    from .conf import app_settings
    from .sealing import KeyringError, configured_keys

    try:
        configured_keys(app_settings.MFA_ENCRYPTION_KEYS)
    except KeyringError as exc:
        return [
            Error(
                f"SECUREAUTH['MFA_ENCRYPTION_KEYS'] {exc}.",
                hint="Each key is 32 random bytes in base64 (docs/mfa.md, 'Seeds at rest').",
                id="secureauth.E070",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_mfa_encryption_keys_deploy(app_configs, **kwargs) -> list[CheckMessage]:
    """``check --deploy``: with no MFA_ENCRYPTION_KEYS the seeds are sealed under a key
    derived from SECRET_KEY, so whoever holds SECRET_KEY (or a leaked settings file)
    holds the seeds too."""
    from .conf import app_settings
    from .sealing import KeyringError, configured_keys

    try:
        keys = configured_keys(app_settings.MFA_ENCRYPTION_KEYS)
    except KeyringError:
        return []  # E070's to report
    if not keys:
        return [
            Warning(
                "SecureAuth seals TOTP seeds with a key derived from SECRET_KEY; set "
                "SECUREAUTH['MFA_ENCRYPTION_KEYS'] to a dedicated key in production.",
                hint="Then run manage.py secureauth_rotate_mfa_keys (docs/mfa.md).",
                id="secureauth.W070",
            )
        ]
    return []


@register(Tags.caches, Tags.security)
def check_dpop_settings(app_configs, **kwargs) -> list[CheckMessage]:
    """DPoP proofs need a real cache for their ``jti`` and asymmetric algorithms only."""
    from .conf import app_settings
    from .dpop import SUPPORTED_ALGORITHMS

    alias, algorithms = app_settings.DPOP_CACHE, app_settings.DPOP_ALGORITHMS
    unusable = [alg for alg in algorithms if alg not in SUPPORTED_ALGORITHMS]
    if alias not in settings.CACHES or not algorithms or unusable:
        message = (
            f"SECUREAUTH['DPOP_CACHE'] '{alias}' is not in CACHES."
            if alias not in settings.CACHES
            else f"SECUREAUTH['DPOP_ALGORITHMS'] must name asymmetric JWS algorithms among "
            f"{', '.join(sorted(SUPPORTED_ALGORITHMS))}; not {unusable or 'none'}."
        )
        return [Error(message, id="secureauth.E080")]
    if str(settings.CACHES[alias].get("BACKEND", "")).endswith("DummyCache"):
        return [
            Warning(
                f"SecureAuth DPoP cache '{alias}' is a DummyCache: a DPoP proof can be replayed.",
                id="secureauth.W080",
            )
        ]
    return []


# --- SECUREAUTH keys and the adapter --------------------------------------------------


@register(Tags.compatibility)
def check_settings_keys(app_configs, **kwargs) -> list[CheckMessage]:
    """An unknown SECUREAUTH key (or RATE_LIMITS name) is a typo until proven
    otherwise: it would be ignored without a word."""
    from .conf import DEFAULTS

    configured = getattr(settings, "SECUREAUTH", None)
    if configured is None:
        return []
    if not isinstance(configured, dict):
        message = f"SECUREAUTH must be a dict, not {type(configured).__name__}."
        return [Error(message, id="secureauth.E050")]
    messages: list[CheckMessage] = []
    for key in configured:
        if key not in DEFAULTS:
            messages.append(
                _unknown(
                    f"Unknown SECUREAUTH key {key!r}",
                    key,
                    DEFAULTS,
                    "The settings and their defaults are secureauth.conf.DEFAULTS "
                    "(docs/operations.md).",
                    "secureauth.W050",
                )
            )
    rate_limits = configured.get("RATE_LIMITS")
    known_limits = DEFAULTS["RATE_LIMITS"]
    if isinstance(rate_limits, dict):
        for name in rate_limits:
            if name not in known_limits:
                messages.append(
                    _unknown(
                        f"Unknown rate limit SECUREAUTH['RATE_LIMITS'][{name!r}]",
                        name,
                        known_limits,
                        f"The rate limits are {', '.join(known_limits)}.",
                        "secureauth.W051",
                    )
                )
    messages.extend(_adapter_problems())
    return messages


def _unknown(what: str, name: Any, known, fallback_hint: str, code: str) -> Warning:
    """A warning for an unknown name, suggesting the closest known one."""
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return Warning(
        f"{what}: SecureAuth ignores it.",
        hint=f"Did you mean {close[0]!r}?" if close else fallback_hint,
        id=code,
    )


def _adapter_problems() -> list[CheckMessage]:
    adapter, problem = _configured_adapter()
    if adapter is not None:
        return []
    return [
        Error(
            f"SECUREAUTH['ADAPTER'] {problem}",
            hint="Name a subclass of secureauth.adapter.DefaultAdapter (the default).",
            id="secureauth.E051",
        )
    ]


# --- INSTALLED_APPS order --------------------------------------------------------------


@register(Tags.admin, Tags.compatibility)
def check_app_order(app_configs, **kwargs) -> list[CheckMessage]:
    return app_order_warnings([config.name for config in apps.get_app_configs()])


def app_order_warnings(names: list[str]) -> list[CheckMessage]:
    """SecureAuth extends the user admin that django.contrib.auth registers, and admin
    modules are discovered in INSTALLED_APPS order: with the admin installed, list
    SecureAuth after both apps (``names``: the installed apps' names, in order)."""
    if "secureauth" not in names or "django.contrib.admin" not in names:
        return []
    position = names.index("secureauth")
    late = [
        app
        for app in ("django.contrib.admin", "django.contrib.auth")
        if app in names and names.index(app) > position
    ]
    if not late:
        return []
    listed = " and ".join(f"'{app}'" for app in late)
    return [
        Warning(
            f"'secureauth' is listed before {listed} in INSTALLED_APPS: the user admin "
            "does not show the user's sessions, nor offer to revoke them.",
            hint="Move 'secureauth' after 'django.contrib.admin' and 'django.contrib.auth'.",
            id="secureauth.W060",
        )
    ]
