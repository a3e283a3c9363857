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
