"""Admin sites whose login goes through SecureAuth (see ``.login`` for the rule).

Django's default site gets the login form and template when the app is ready
(``install_on_default_site``); a project's own ``AdminSite`` subclass gets them by
mixing in ``SecureAuthAdminSiteMixin`` (or by subclassing ``SecureAuthAdminSite``).
A refused attempt answers 429 with ``Retry-After`` (503 when the limiter is down).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin import AdminSite
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse

from .login import SecureAuthAdminAuthenticationForm

logger = logging.getLogger("secureauth")

#: Django's admin/login.html with the one-time-code field added.
LOGIN_TEMPLATE = "admin/secureauth/login.html"

LoginView = Callable[..., HttpResponse]

if TYPE_CHECKING:
    # The mixin only ever goes in front of an AdminSite.
    _Site = AdminSite
else:
    _Site = object


def with_refusal_status(response: HttpResponse) -> HttpResponse:
    """Give a login page re-rendered after a refused attempt the refusal's status."""
    form = (getattr(response, "context_data", None) or {}).get("form")
    refusal = getattr(form, "refusal", None)
    if refusal is not None:
        response.status_code = refusal.status_code
        retry_after = getattr(refusal, "retry_after", None)
        if retry_after:
            response["Retry-After"] = str(retry_after)
    return response


class SecureAuthAdminSiteMixin(_Site):
    """Mix into an ``AdminSite`` subclass: its login uses SecureAuth's limiter and
    asks users who have a second factor for a one-time code.

    A site that sets its own ``login_template`` must render ``form.otp_token``."""

    login_form = SecureAuthAdminAuthenticationForm
    login_template = LOGIN_TEMPLATE

    @login_not_required
    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return with_refusal_status(super().login(request, extra_context))


class SecureAuthAdminSite(SecureAuthAdminSiteMixin, AdminSite):
    """An ``AdminSite`` whose login goes through SecureAuth."""


def answering_refusals(login: LoginView) -> LoginView:
    """Wrap a site's bound ``login`` view with ``with_refusal_status``."""

    @wraps(login)  # keeps never_cache's headers and login_not_required's mark
    def view(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        return with_refusal_status(login(request, extra_context))

    return view


def install_admin_login(site: AdminSite) -> bool:
    """Give ``site`` SecureAuth's login form (and template, unless it has its own).

    A site that already has a login form of its own is left alone, with a warning:
    its sign-in does not go through the login limiter. Returns whether it changed."""
    if isinstance(site, SecureAuthAdminSiteMixin):
        return False
    if site.login_form is not None:
        form = site.login_form
        if not (isinstance(form, type) and issubclass(form, SecureAuthAdminAuthenticationForm)):
            logger.warning(
                "secureauth: admin site %r has its own login form; signing in there skips "
                "the login limiter and the second factor (see docs/operations.md)",
                site.name,
            )
        return False
    site.login_form = SecureAuthAdminAuthenticationForm
    if site.login_template is None:
        site.login_template = LOGIN_TEMPLATE
    site.login = answering_refusals(site.login)  # type: ignore[method-assign]
    return True


def install_on_default_site() -> bool:
    """``install_admin_login`` on ``django.contrib.admin.site`` (the app's ``ready()``)."""
    return install_admin_login(admin.site)
