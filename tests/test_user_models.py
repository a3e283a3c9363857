"""Custom user models, and the system checks that refuse the ones SecureAuth cannot use.

The core flows (``tests/user_models/flows.py``: register, login, refresh, me, email
verification, password reset, passkeys, social sign-in, the commands, the admin) run
in a pytest subprocess per user model, all at once: AUTH_USER_MODEL cannot change
inside one Django process. A model without an email field or groups fails a real
``manage.py check``; the other checks are called directly here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.hashers import BasePasswordHasher
from django.contrib.auth.models import Group
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import models
from django.test import override_settings
from django.test.utils import isolate_apps

from secureauth import checks
from secureauth.adapter import DefaultAdapter
from tests.conftest import secureauth_settings
from tests.servers import ROOT

FLOWS = "tests/user_models/flows.py"
#: The user models the flows run with: Django's own, and tests/user_models/models.py's.
USER_MODELS = {
    "auth.User": "tests.settings",
    "EmailUser": "tests.user_models.settings_email",
    "HandleUser": "tests.user_models.settings_handle",
}
TIMEOUT = 300


def child_env(settings_module: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_")}
    # A database of its own (settings_base adds the model's name to it), per xdist worker.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    suffix = f"{os.environ.get('TEST_DB_SUFFIX', 'main')}{worker}_flows"
    return {**env, "DJANGO_SETTINGS_MODULE": settings_module, "TEST_DB_SUFFIX": suffix}


def start(*command: str, settings_module: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *command],
        cwd=ROOT,
        env=child_env(settings_module),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="module")
def runs():
    """Every subprocess of this module, started together (they overlap on 2 cores)."""
    started = {
        model: start("-m", "pytest", FLOWS, "-p", "no:cacheprovider", "-q", settings_module=ds)
        for model, ds in USER_MODELS.items()
    }
    started["broken check"] = start(
        "-m", "django", "check", settings_module="tests.user_models.settings_broken"
    )
    yield started
    for process in started.values():
        if process.poll() is None:
            process.kill()
            process.wait()


def finish(process: subprocess.Popen) -> tuple[int, str]:
    output, _ = process.communicate(timeout=TIMEOUT)
    return process.returncode, output


@pytest.mark.parametrize("model", list(USER_MODELS))
def test_core_flows_pass_with_the_user_model(runs, model):
    code, output = finish(runs[model])
    assert code == 0, f"flows with {model} failed:\n{output}"  # 5: none collected


def test_a_model_without_email_field_nor_groups_fails_manage_py_check(runs):
    code, output = finish(runs["broken check"])
    assert code != 0, output
    for code_id in ("secureauth.E030", "secureauth.E031", "secureauth.E032"):
        assert f"user_models_broken.NoEmailNoGroupsUser: ({code_id})" in output, output
    assert "its email field 'email'" in output and "PermissionsMixin" in output


# --- the user model checks, on models made up for each test ---------------------------


def ids(messages) -> list[str]:
    return [message.id for message in messages]


class CreateUserManager(BaseUserManager):
    def create_user(self, email, password=None, **extra):
        raise NotImplementedError  # never called by a check


class FakeUser(AbstractBaseUser):
    """The base of the made-up models (each defined inside ``isolate_apps``)."""

    objects = CreateUserManager()

    class Meta:
        abstract = True
        app_label = "tests"


@isolate_apps("tests")
def test_a_usable_model_passes():
    class Usable(FakeUser):
        email = models.EmailField()
        groups = models.ManyToManyField(Group, related_name="+")
        USERNAME_FIELD = "email"

    assert checks.user_model_errors(Usable) == []


@isolate_apps("tests")
def test_no_email_field_is_e030_naming_the_field():
    class Phone(FakeUser):
        phone = models.CharField(max_length=20, unique=True)
        groups = models.ManyToManyField(Group, related_name="+")
        USERNAME_FIELD = "phone"
        EMAIL_FIELD = "contact_email"

    (error,) = checks.user_model_errors(Phone)
    assert error.id == "secureauth.E030"
    assert "'contact_email'" in error.msg and "names no field" in error.msg
    assert error.obj is Phone and "EmailField" in error.hint


@isolate_apps("tests")
def test_an_email_field_that_is_not_text_is_e030():
    class Numbered(FakeUser):
        email = models.IntegerField()
        groups = models.ManyToManyField(Group, related_name="+")
        USERNAME_FIELD = "email"

    assert ids(checks.user_model_errors(Numbered)) == ["secureauth.E030"]
    assert "is not a text field" in checks.user_model_errors(Numbered)[0].msg


@isolate_apps("tests")
def test_no_groups_is_e031():
    class Groupless(FakeUser):
        email = models.EmailField(unique=True)
        USERNAME_FIELD = "email"

    class Tagged(FakeUser):  # a "groups" that is not auth.Group's
        email = models.EmailField(unique=True)
        groups = models.CharField(max_length=100)
        USERNAME_FIELD = "email"

    for model in (Groupless, Tagged):
        (error,) = checks.user_model_errors(model)
        assert error.id == "secureauth.E031"
        assert "PermissionsMixin" in error.hint


class OwnUsersAdapter(DefaultAdapter):
    def create_user(self, email, password, **fields):
        raise NotImplementedError


@isolate_apps("tests")
def test_no_create_user_is_e032_unless_the_adapter_creates_users():
    class Plain(FakeUser):
        email = models.EmailField(unique=True)
        groups = models.ManyToManyField(Group, related_name="+")
        objects = models.Manager()
        USERNAME_FIELD = "email"

    (error,) = checks.user_model_errors(Plain)
    assert error.id == "secureauth.E032" and "create_user" in error.msg
    with secureauth_settings(ADAPTER="tests.test_user_models.OwnUsersAdapter"):
        assert checks.user_model_errors(Plain) == []


def test_the_suites_user_model_passes():
    assert checks.check_user_model(None) == []


# --- PASSWORD_HASHERS -----------------------------------------------------------------

ARGON2 = "django.contrib.auth.hashers.Argon2PasswordHasher"
PBKDF2 = "django.contrib.auth.hashers.PBKDF2PasswordHasher"


class MissingLibraryHasher(BasePasswordHasher):
    algorithm = "missing"
    library = "secureauth_no_such_library"


MISSING_LIBRARY = "tests.test_user_models.MissingLibraryHasher"


@pytest.mark.parametrize(
    "entry, problem",
    [
        (..., "is not an import path"),  # the README's `...`, copied as printed
        ("...", "does not import"),
        ("django.contrib.auth.hashers.Argon2PaswordHasher", "does not import"),
        ("no_such_module.Hasher", "does not import"),
        ("django.contrib.auth.models.Group", "is not a password hasher"),
        ("django.contrib.auth.hashers.make_password", "is not a password hasher"),
    ],
)
def test_an_entry_that_does_not_load_is_e040_naming_it(entry, problem):
    with override_settings(PASSWORD_HASHERS=[ARGON2, entry, PBKDF2]):
        (error,) = checks.check_password_hashers(None)
    assert error.id == "secureauth.E040"
    assert error.msg.startswith(f"PASSWORD_HASHERS[1] ({entry!r}) {problem}"), error.msg
    assert repr(entry) in error.hint


def test_a_missing_library_is_e040_first_and_w040_after():
    with override_settings(PASSWORD_HASHERS=[MISSING_LIBRARY, PBKDF2]):
        (error,) = checks.check_password_hashers(None)
    assert error.id == "secureauth.E040" and "not installed" in error.msg
    with override_settings(PASSWORD_HASHERS=[PBKDF2, MISSING_LIBRARY]):
        (warning,) = checks.check_password_hashers(None)
    assert warning.id == "secureauth.W040" and MISSING_LIBRARY in warning.hint


@pytest.mark.parametrize("hashers", [[], (), ARGON2])
def test_no_list_of_hashers_is_e040(hashers):
    with override_settings(PASSWORD_HASHERS=hashers):
        assert ids(checks.check_password_hashers(None)) == ["secureauth.E040"]


def test_usable_hashers_pass():
    with override_settings(PASSWORD_HASHERS=[ARGON2, PBKDF2]):
        assert checks.check_password_hashers(None) == []


def test_manage_py_check_fails_on_a_bad_hasher():
    """The check is registered: ``manage.py check`` (and migrate, runserver) stops."""
    with override_settings(PASSWORD_HASHERS=[ARGON2, ...]):
        assert "secureauth.E040" in ids(run_checks())
        with pytest.raises(SystemCheckError, match=r"secureauth\.E040"):
            call_command("check", stdout=StringIO(), stderr=StringIO())


# --- SECUREAUTH keys ------------------------------------------------------------------


def test_an_unknown_key_is_w050_suggesting_the_closest():
    with secureauth_settings(ACCESS_TOKEN_LIFETIM=60, SIGNING_KEYS="x", ZZZ_NOTHING_LIKE=1):
        messages = checks.check_settings_keys(None)
    assert ids(messages) == ["secureauth.W050"] * 3
    by_key = {m.msg.split("'")[1]: m for m in messages}
    assert by_key["ACCESS_TOKEN_LIFETIM"].hint == "Did you mean 'ACCESS_TOKEN_LIFETIME'?"
    assert by_key["SIGNING_KEYS"].hint == "Did you mean 'SIGNING_KEY'?"
    assert "secureauth.conf.DEFAULTS" in by_key["ZZZ_NOTHING_LIKE"].hint
    assert "Unknown SECUREAUTH key 'ACCESS_TOKEN_LIFETIM'" in by_key["ACCESS_TOKEN_LIFETIM"].msg


def test_an_unknown_rate_limit_is_w051():
    with secureauth_settings(RATE_LIMITS={"registr": "5/h", "login": "5/m"}):
        messages = checks.check_settings_keys(None)
    assert ids(messages) == ["secureauth.W051"] * 2
    assert "['registr']" in messages[0].msg and messages[0].hint == "Did you mean 'register'?"
    assert "['login']" in messages[1].msg


def test_the_suites_settings_have_no_unknown_key():
    assert checks.check_settings_keys(None) == []


def test_secureauth_that_is_not_a_dict_is_e050():
    with override_settings(SECUREAUTH=[("ISSUER", "x")]):
        assert ids(checks.check_settings_keys(None)) == ["secureauth.E050"]
        assert checks.check_user_model(None) == []  # and nothing else crashes


@pytest.mark.parametrize(
    "path, problem",
    [
        ("myproject.auth.Adapter", "does not import"),
        ("secureauth.adapter.DefaultAdaptor", "does not import"),
        ("secureauth.conf.AppSettings", "is not a subclass"),
    ],
)
def test_an_adapter_that_does_not_load_is_e051(path, problem):
    with secureauth_settings(ADAPTER=path):
        (error,) = checks.check_settings_keys(None)
    assert error.id == "secureauth.E051"
    assert repr(path) in error.msg and problem in error.msg


# --- INSTALLED_APPS order -------------------------------------------------------------

BASE_APPS = ["django.contrib.contenttypes", "rest_framework"]


@pytest.mark.parametrize(
    "names, late",
    [
        (
            ["secureauth", "django.contrib.admin", "django.contrib.auth"],
            "'django.contrib.admin' and 'django.contrib.auth'",
        ),
        (["django.contrib.admin", "secureauth", "django.contrib.auth"], "'django.contrib.auth'"),
        (["django.contrib.auth", "secureauth", "django.contrib.admin"], "'django.contrib.admin'"),
    ],
)
def test_secureauth_before_the_admin_or_auth_is_w060(names, late):
    (warning,) = checks.app_order_warnings([*BASE_APPS, *names])
    assert warning.id == "secureauth.W060"
    assert f"'secureauth' is listed before {late}" in warning.msg


@pytest.mark.parametrize(
    "names",
    [
        ["django.contrib.admin", "django.contrib.auth", "secureauth"],
        ["django.contrib.auth", "django.contrib.admin", "secureauth"],
        ["secureauth", "django.contrib.auth"],  # no admin: nothing to extend
    ],
)
def test_secureauth_after_them_passes(names):
    assert checks.app_order_warnings([*BASE_APPS, *names]) == []


def test_the_suites_app_order_passes():
    assert checks.check_app_order(None) == []


# --- the default adapter's USERNAME_FIELD for Django's auth.User -----------------------


def test_username_for_is_the_email_when_it_fits_else_derived_within_max_length(db):
    adapter = DefaultAdapter()
    assert adapter.username_for("ada@example.com") == "ada@example.com"
    long_email = "l" * 180 + "@example.com"  # longer than auth.User's 150
    first, second = adapter.username_for(long_email), adapter.username_for(long_email)
    assert len(first) <= 150 and first.startswith("l" * 100) and first != second


def test_an_address_longer_than_the_username_registers(api, db):
    from django.contrib.auth import get_user_model

    email = "ada.lovelace@" + ".".join(["x" * 40] * 4) + ".example.com"  # 188 characters
    body = {"email": email, "password": "a long passphrase here"}
    response = api.post("/auth/register/", body, format="json")
    assert response.status_code == 201, response.content
    user = get_user_model().objects.get(email=email)
    assert len(user.username) <= 150 and user.username.startswith("ada.lovelace-")
    assert api.post("/auth/login/", body, format="json").status_code == 200
