"""Send browsers from a loopback IP address to ``localhost`` for the account pages.

``python3 dev.py serve`` listens on 127.0.0.1:8000, and people open that address; but
WebAuthn refuses an IP address as relying-party id, so passkeys work only on the host
name the service is configured with (``WEBAUTHN_RP_ID``, ``localhost`` in development).
The same port is kept; the API itself answers on any allowed host.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from secureauth.conf import app_settings

LOOPBACK_ADDRESSES = frozenset({"127.0.0.1", "[::1]"})
REDIRECTED_PREFIXES = ("/account/",)


class LoopbackToLocalhostMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        target = self._localhost_url(request)
        if target is not None:
            return HttpResponseRedirect(target)
        return self.get_response(request)

    def _localhost_url(self, request: HttpRequest) -> str | None:
        if request.method not in ("GET", "HEAD") or app_settings.WEBAUTHN_RP_ID != "localhost":
            return None
        if not (request.path == "/" or request.path.startswith(REDIRECTED_PREFIXES)):
            return None
        host = request.get_host()
        if host.endswith("]") or ":" not in host:
            name, port = host, ""
        else:
            name, _, port = host.rpartition(":")
        if name not in LOOPBACK_ADDRESSES:
            return None
        authority = f"localhost:{port}" if port else "localhost"
        return f"{request.scheme}://{authority}{request.get_full_path()}"
