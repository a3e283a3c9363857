"""The account pages: one server-rendered shell per page; its script does the API calls."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_safe

from .headers import page_headers


@dataclass(frozen=True)
class Page:
    """One account page: its URL name, title, and whether it is for signed-in users."""

    name: str
    title: str
    signed_in: bool = False

    @property
    def template(self) -> str:
        return f"secureauth/account/{self.name}.html"

    @property
    def script(self) -> str:
        return f"secureauth/account/pages/{self.name}.js"


PAGES = {
    page.name: page
    for page in (
        Page("sign-in", "Sign in"),
        Page("sign-up", "Create an account"),
        Page("verify-email", "Verify your email"),
        Page("forgot-password", "Forgot your password?"),
        Page("reset-password", "Choose a new password"),
        Page("report-session", "Report a sign-in"),
        Page("magic-link", "Sign in with an email link"),
        Page("sessions", "Your sessions", signed_in=True),
        Page("security", "Security", signed_in=True),
        Page("activity", "Account activity", signed_in=True),
    )
}

#: the pages in the signed-in navigation, in order
NAVIGATION = ("security", "sessions", "activity")


def api_base() -> str:
    """Where the host project mounted SecureAuth's API (``/auth/`` in the example)."""
    try:
        refresh = reverse("secureauth:refresh")
    except NoReverseMatch:
        raise ImproperlyConfigured(
            'The account pages call the API: include "secureauth.urls" with the namespace '
            '"secureauth", e.g. path("auth/", include("secureauth.urls")).'
        ) from None
    return refresh[: -len("refresh/")]


@require_safe
@page_headers
def account_page(request: HttpRequest, page: str) -> HttpResponse:
    current = PAGES[page]
    context = {
        "page": current,
        "api_base": api_base(),
        "account_base": reverse("secureauth_account:sign-in"),
        "navigation": [PAGES[name] for name in NAVIGATION],
    }
    return render(request, current.template, context)
