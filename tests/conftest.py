"""Shared fixtures: an API client, users, and signing in through the HTTP API."""

from __future__ import annotations

import itertools
import logging

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from rest_framework.test import APIClient

from secureauth import cache_guard

PASSWORD = "correct horse battery staple"
#: The fields of the contract's token response.
TOKEN_FIELDS = {
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "refresh_expires_in",
    "session",
    "user",
}
_counter = itertools.count()

postgres_only = pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"], reason="needs PostgreSQL"
)


def clear_caches() -> None:
    """Empty this run's caches; only its own keys (django-redis' clear() is FLUSHDB)."""
    for alias in settings.CACHES:
        cache = caches[alias]
        if hasattr(cache, "delete_pattern"):
            cache.delete_pattern("*")
        else:
            cache.clear()


@pytest.fixture(autouse=True)
def _clear_cache():
    clear_caches()
    cache_guard.reset()  # no outage a test simulated outlives it
    yield


def _only_test_transactions(connection) -> bool:
    return all(getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def _run_commit_hooks(hooks) -> None:
    for _, func, robust in hooks:
        if robust:
            try:
                func()
            except Exception:  # as Django's robust hooks: logged, never raised
                logging.getLogger("tests").exception("on_commit hook failed")
        else:
            func()


@pytest.fixture(autouse=True, scope="session")
def _on_commit_as_in_production():
    """Inside a ``django_db`` test every statement runs in the test's transaction, which
    never commits, so ``transaction.on_commit`` hooks would never run. Run them when the
    code's own outermost transaction ends (or at once outside one), as a real commit
    would: mail and signals sent after commit are then seen by the test."""
    original_on_commit = BaseDatabaseWrapper.on_commit
    original_exit = transaction.Atomic.__exit__

    def on_commit(self, func, robust=False):
        if self.in_atomic_block and _only_test_transactions(self):
            _run_commit_hooks([(None, func, robust)])
        else:
            original_on_commit(self, func, robust)

    def exit(self, exc_type, exc_value, traceback):
        connection = transaction.get_connection(self.using)
        result = original_exit(self, exc_type, exc_value, traceback)
        if (
            connection.in_atomic_block
            and _only_test_transactions(connection)
            and connection.run_on_commit
            and not connection.needs_rollback
        ):
            hooks, connection.run_on_commit = connection.run_on_commit, []
            _run_commit_hooks(hooks)
        return result

    BaseDatabaseWrapper.on_commit = on_commit
    transaction.Atomic.__exit__ = exit
    yield
    BaseDatabaseWrapper.on_commit = original_on_commit
    transaction.Atomic.__exit__ = original_exit


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def make_user(db):
    def make(email: str | None = None, password: str = PASSWORD, roles=(), verified=False, **extra):
        email = email or f"user{next(_counter)}@example.com"
        user = get_user_model().objects.create_user(
            username=email, email=email, password=password, **extra
        )
        if verified:
            from secureauth.models import VerifiedEmail

            VerifiedEmail.objects.create(user=user, email=email)
        for role in roles:
            from django.contrib.auth.models import Group

            user.groups.add(Group.objects.get_or_create(name=role)[0])
        return user

    return make


@pytest.fixture
def user(make_user):
    """Alice, whose address is verified (tests of unverified accounts make their own)."""
    return make_user("alice@example.com", verified=True)


def login(client: APIClient, email: str, password: str = PASSWORD, **extra) -> dict:
    response = client.post(
        "/auth/login/", {"email": email, "password": password, **extra}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def signed_in(api, user):
    """(client with Bearer set, token response) for ``user``."""
    tokens = login(api, user.email)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    return api, tokens


def bearer(tokens: dict) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}


def secureauth_settings(**overrides):
    """``override_settings`` of some SECUREAUTH keys, keeping the test settings' others."""
    from django.test import override_settings

    return override_settings(SECUREAUTH={**settings.SECUREAUTH, **overrides})


def refresh(client: APIClient, token: str, **extra):
    """POST refresh/ with a refresh token in the body; returns the response."""
    return client.post("/auth/refresh/", {"refresh_token": token}, format="json", **extra)


def stale_tokens(client: APIClient, tokens: dict) -> dict:
    """The session's tokens refreshed after its ``auth_time`` has aged past REAUTH_MAX_AGE
    (as a 15-minute access token is, refreshed for an hour): a valid access token that
    is too old for a sensitive operation."""
    from datetime import timedelta

    from django.utils import timezone

    from secureauth.conf import app_settings
    from secureauth.models import Session

    aged = timezone.now() - app_settings.REAUTH_MAX_AGE - timedelta(seconds=60)
    Session.objects.filter(pk=tokens["session"]["id"]).update(auth_time=aged)
    response = refresh(client, tokens["refresh_token"])
    assert response.status_code == 200, response.content
    return response.json()


def run_in_threads(calls, timeout: float = 60) -> list:
    """Run each callable in its own thread (each with its own database connection);
    their results in order. An exception in a thread fails the test."""
    import threading

    from django.db import connections

    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call) -> None:
        try:
            results[index] = call()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not errors, errors
    return results
