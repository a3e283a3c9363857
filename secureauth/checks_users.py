"""System checks of the user model and its passwords (docs/operations.md, "System
checks"): a user model SecureAuth cannot work with (E030-E032) and password hashers
that do not load (E040/W040). Registered on import by ``secureauth.checks``."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.module_loading import import_string

# --- the user model ----------------------------------------------------------------


def _user_model_in(app_configs) -> type[models.Model] | None:
    """AUTH_USER_MODEL's class, or None when the checked apps do not include it (as
    Django's own ``auth`` checks do) or it cannot be loaded (Django reports that)."""
    try:
        model = apps.get_model(settings.AUTH_USER_MODEL)
    except (LookupError, ValueError):
        return None
    if app_configs is not None and model._meta.app_config not in app_configs:
        return None
    return model


@register(Tags.models, Tags.compatibility)
def check_user_model(app_configs, **kwargs) -> list[CheckMessage]:
    model = _user_model_in(app_configs)
    if model is None or not apps.is_installed("django.contrib.auth"):
        return []
    return user_model_errors(model)


def user_model_errors(model: type[models.Model]) -> list[CheckMessage]:
    """What keeps SecureAuth from working with ``model`` as AUTH_USER_MODEL: it needs
    an email field (users sign in and are found by email), a ``groups`` relation to
    ``auth.Group`` (roles are groups) and, unless the adapter creates users itself, a
    manager with ``create_user``."""
    label = model._meta.label
    errors: list[CheckMessage] = []
    email_name = _email_field_name(model)
    try:
        email_field = model._meta.get_field(email_name)
    except FieldDoesNotExist:
        email_field = None
    if not isinstance(email_field, models.CharField | models.TextField):
        problem = "names no field" if email_field is None else "is not a text field"
        errors.append(
            Error(
                f"SecureAuth needs an email field on the user model {label}: its email "
                f"field '{email_name}' (EMAIL_FIELD, get_email_field_name()) {problem}.",
                hint=(
                    "Add an EmailField to the user model and name it in EMAIL_FIELD "
                    "(AbstractBaseUser's default is 'email'). The USERNAME_FIELD may be "
                    "anything."
                ),
                obj=model,
                id="secureauth.E030",
            )
        )
    if not _has_groups(model):
        errors.append(
            Error(
                f"SecureAuth needs a 'groups' relation to auth.Group on the user model "
                f"{label}: roles are Django groups.",
                hint="Add django.contrib.auth.models.PermissionsMixin to the user model.",
                obj=model,
                id="secureauth.E031",
            )
        )
    if not callable(getattr(model._default_manager, "create_user", None)) and (
        not _adapter_creates_users()
    ):
        errors.append(
            Error(
                f"The default manager of the user model {label} has no create_user(): "
                "SecureAuth's default adapter creates users with it (register/, social "
                "sign-in).",
                hint=(
                    "Give the model a BaseUserManager subclass with create_user(...,"
                    " password=None, **extra_fields), or override create_user() in "
                    "SECUREAUTH['ADAPTER']."
                ),
                obj=model,
                id="secureauth.E032",
            )
        )
    return errors


def _email_field_name(model: type[models.Model]) -> str:
    getter = getattr(model, "get_email_field_name", None)
    return getter() if callable(getter) else getattr(model, "EMAIL_FIELD", "email")


def _has_groups(model: type[models.Model]) -> bool:
    from django.contrib.auth.models import Group

    try:
        field = model._meta.get_field("groups")
    except FieldDoesNotExist:
        return False
    return bool(field.many_to_many) and field.related_model is Group


def _adapter_creates_users() -> bool:
    """Whether SECUREAUTH['ADAPTER'] overrides create_user (an adapter that does not
    load is E051's to report)."""
    from .adapter import DefaultAdapter

    adapter, _ = _configured_adapter()
    return adapter is not None and getattr(adapter, "create_user", None) is not (
        DefaultAdapter.create_user
    )


def _configured_adapter() -> tuple[type | None, str]:
    """The class SECUREAUTH['ADAPTER'] names, or None and why not."""
    from .adapter import DefaultAdapter
    from .conf import DEFAULTS

    configured = getattr(settings, "SECUREAUTH", None) or {}
    path = configured.get("ADAPTER", DEFAULTS["ADAPTER"]) if isinstance(configured, dict) else ""
    try:
        adapter = import_string(path)
    except Exception as exc:  # ImportError, or whatever importing the module raised
        return None, f"({path!r}) does not import: {exc}"
    if not (isinstance(adapter, type) and issubclass(adapter, DefaultAdapter)):
        return None, f"({path!r}) is not a subclass of secureauth.adapter.DefaultAdapter."
    return adapter, ""


# --- password hashers ----------------------------------------------------------------


@register(Tags.security, Tags.compatibility)
def check_password_hashers(app_configs, **kwargs) -> list[CheckMessage]:
    """Every PASSWORD_HASHERS entry loads: Django imports them all on the first
    password check, so one bad entry (a literal ``...`` copied from an example, a
    typo) fails every register/ and login/ with a 500. A hasher whose library is not
    installed fails every password when it is the first (the one that hashes), and the
    passwords it hashed before otherwise."""
    hashers = getattr(settings, "PASSWORD_HASHERS", None)
    if not hashers or isinstance(hashers, str):
        return [
            Error(
                "PASSWORD_HASHERS must be a non-empty list of import paths of hashers.",
                hint="E.g. ['django.contrib.auth.hashers.Argon2PasswordHasher', "
                "'django.contrib.auth.hashers.PBKDF2PasswordHasher'].",
                id="secureauth.E040",
            )
        ]
    messages: list[CheckMessage] = []
    for index, entry in enumerate(hashers):
        problem, missing_library = _hasher_problem(entry)
        if not problem:
            continue
        culprit = f"PASSWORD_HASHERS[{index}] ({entry!r}) {problem}"
        if missing_library and index > 0:
            messages.append(
                Warning(
                    f"{culprit}: passwords it hashed cannot be checked.",
                    hint=f"Install the library, or remove {entry!r} from PASSWORD_HASHERS.",
                    id="secureauth.W040",
                )
            )
        else:
            messages.append(
                Error(
                    f"{culprit}: every password check would fail.",
                    hint=f"Fix or remove the entry {entry!r} in PASSWORD_HASHERS.",
                    id="secureauth.E040",
                )
            )
    return messages


def _hasher_problem(entry: Any) -> tuple[str, bool]:
    """Why ``entry`` is not a usable hasher ("" when it is), and whether it is only
    its library that is missing."""
    if not isinstance(entry, str):
        return "is not an import path", False
    try:
        hasher_class = import_string(entry)
    except (ImportError, TypeError, ValueError) as exc:
        return f"does not import ({exc})", False
    try:
        hasher = hasher_class()
    except Exception as exc:  # not a class that takes no arguments
        return f"is not a password hasher ({exc})", False
    if not getattr(hasher, "algorithm", None) or not callable(getattr(hasher, "verify", None)):
        return "is not a password hasher", False
    if getattr(hasher, "library", None) is not None:
        try:
            hasher._load_library()
        except ValueError as exc:
            return f"needs a library that is not installed ({exc})", True
    return "", False
