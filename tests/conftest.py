"""Shared fixtures: an API client, users, and signing in through the HTTP API."""

from __future__ import annotations

import itertools

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import caches
from rest_framework.test import APIClient

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
    yield


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def make_user(db):
    def make(email: str | None = None, password: str = PASSWORD, roles=(), **extra):
        email = email or f"user{next(_counter)}@example.com"
        user = get_user_model().objects.create_user(
            username=email, email=email, password=password, **extra
        )
        for role in roles:
            from django.contrib.auth.models import Group

            user.groups.add(Group.objects.get_or_create(name=role)[0])
        return user

    return make


@pytest.fixture
def user(make_user):
    return make_user("alice@example.com")


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
