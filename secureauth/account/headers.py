"""The response headers of the account pages: a strict Content-Security-Policy (no inline
script or style), no referrer (links carry tokens in their query string), no caching, no
framing."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.urls import reverse


def content_security_policy() -> str:
    """The pages' policy. ``img-src data:`` is for the TOTP QR code, an SVG the API
    answers and the page shows as an image (so its own styles need no inline-style
    exception). Violations go to ``report-uri`` (sent at once by browsers; ``report-to``
    is batched and would make Chromium ignore ``report-uri``)."""
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "connect-src": "'self'",
        "font-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
        "report-uri": reverse("secureauth_account:csp-report"),
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def page_headers(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Set the account pages' security headers on every response of ``view``."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = content_security_policy()
        response["Referrer-Policy"] = "no-referrer"
        response["Cache-Control"] = "no-store"
        response["X-Frame-Options"] = "DENY"
        response["X-Content-Type-Options"] = "nosniff"
        response["Cross-Origin-Opener-Policy"] = "same-origin"
        return response

    return wrapped
