"""Cookie mode: the refresh token travels in an HttpOnly cookie scoped to the mount point."""

from __future__ import annotations

from django.urls import reverse

from ..conf import app_settings

COOKIE_HEADER = "HTTP_X_SECUREAUTH_COOKIE"


def wants_cookie(request) -> bool:
    """Cookie mode: on by setting, or asked for by the client's header."""
    return app_settings.REFRESH_TOKEN_COOKIE or request.META.get(COOKIE_HEADER) == "1"


def has_csrf_header(request) -> bool:
    return request.META.get(COOKIE_HEADER) == "1"


def cookie_path() -> str:
    if app_settings.REFRESH_COOKIE_PATH:
        return app_settings.REFRESH_COOKIE_PATH
    refresh = reverse("secureauth:refresh")
    return refresh[: -len("refresh/")] or "/"


def read_cookie(request) -> str | None:
    return request.COOKIES.get(app_settings.REFRESH_COOKIE_NAME) or None


def set_cookie(response, token: str, max_age: int) -> None:
    response.set_cookie(
        app_settings.REFRESH_COOKIE_NAME,
        token,
        max_age=max_age,
        path=cookie_path(),
        domain=app_settings.REFRESH_COOKIE_DOMAIN,
        secure=app_settings.REFRESH_COOKIE_SECURE,
        httponly=True,
        samesite="Strict",
    )


def clear_cookie(response) -> None:
    response.delete_cookie(
        app_settings.REFRESH_COOKIE_NAME,
        path=cookie_path(),
        domain=app_settings.REFRESH_COOKIE_DOMAIN,
        samesite="Strict",
    )
