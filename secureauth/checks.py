"""System checks: missing apps and unusable keys, with codes."""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

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
    if settings.CACHES[alias].get("BACKEND", "").endswith("DummyCache"):
        messages.append(
            Warning(
                f"SecureAuth rate-limit cache '{alias}' is a DummyCache: nothing is rate limited.",
                id="secureauth.W021",
            )
        )
    return messages
