"""What every SecureAuth view shares: its own auth, parsers, renderer and error handling,
so the contract holds whatever the host project's REST_FRAMEWORK settings are."""

from __future__ import annotations

from dataclasses import replace

from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from ...adapter import get_adapter
from ...authentication import AccessTokenAuthentication
from ...client import ClientInfo
from ...exceptions import NotFound
from ...throttling import enforce_rate
from ..cookies import set_cookie, wants_cookie
from ..dpop import add_nonce_header, sign_in_key
from ..exception_handler import exception_handler
from ..parsers import LimitedJSONParser, read_chunked_body
from ..serializers import MFAChallengeSerializer
from ..serializers.core import token_data


class SecureAuthView(APIView):
    authentication_classes = [AccessTokenAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [LimitedJSONParser]
    renderer_classes = [JSONRenderer]
    throttle_classes: list = []
    #: a RATE_LIMITS key: POSTs to this view are limited per client IP
    rate_limit_scope: str | None = None
    #: True: the authentication query also loads the user's SecurityState (roles, MFA,
    #: verified email), for views that answer with the user object (one query in all)
    loads_security_state = False

    def get_exception_handler(self):
        return exception_handler

    def initial(self, request, *args, **kwargs):
        # Before anything reads the body: a chunked one is read here or refused.
        read_chunked_body(request._request)
        super().initial(request, *args, **kwargs)
        if self.rate_limit_scope and request.method == "POST":
            enforce_rate(request, self.rate_limit_scope, self.client_ip(request) or "unknown")

    def validated(self, serializer_class, request, context: dict | None = None) -> dict:
        """The request body validated by ``serializer_class`` (400 field errors otherwise)."""
        serializer = serializer_class(data=request.data, context=context or {})
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def client_ip(self, request) -> str | None:
        return get_adapter().client_ip(request)

    def client(self, request, device_name: str = "") -> ClientInfo:
        return ClientInfo(
            ip=self.client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:512],
            device_name=device_name,
        )

    def sign_in_client(self, request, device_name: str = "") -> ClientInfo:
        """``client()`` for a view that issues tokens: with the key of the request's DPoP
        proof (verified and spent), which the tokens are then bound to (RFC 9449 §5)."""
        return replace(self.client(request, device_name), dpop_jkt=sign_in_key(request))


class PublicView(SecureAuthView):
    """An endpoint for callers without an access token (an Authorization header is ignored)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]


def no_store(response: Response) -> Response:
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def token_response(request, issued, *, status: int = 200, cookie: bool = False) -> Response:
    """The contract's token response; in cookie mode the refresh token goes in the cookie."""
    body = token_data(issued)
    if cookie or wants_cookie(request):
        body.pop("refresh_token", None)
        response = Response(body, status=status)
        set_cookie(response, issued.refresh_token, issued.refresh_expires_in)
    else:
        response = Response(body, status=status)
    add_nonce_header(response)
    return no_store(response)


def sign_in_response(request, outcome) -> Response:
    """A login's answer: tokens, or the MFA challenge."""
    if hasattr(outcome, "mfa_token"):
        response = Response(MFAChallengeSerializer(outcome).data)
        add_nonce_header(response)
        return no_store(response)
    return token_response(request, outcome)


class NotFoundView(PublicView):
    """Anything under the mount that is not an endpoint: a JSON 404 (not in the schema)."""

    schema = None

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise NotFound("No such endpoint.")

    get = post = put = patch = delete = options = http_method_not_allowed
