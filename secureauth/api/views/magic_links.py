"""Email sign-in links: asking for one, and signing in with it."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema

from ...schema import (
    BODY,
    COOKIE_MODE,
    DPOP_HEADERS,
    DPOP_SIGN_IN,
    ERROR_HEADERS,
    RATE_LIMITED,
    errors,
)
from ...services.magic_links import confirm_magic_link, request_magic_link
from ..serializers.account import AcceptedSerializer
from ..serializers.core import SignInResponse
from ..serializers.magic_links import MagicLinkConfirmSerializer, MagicLinkRequestSerializer
from .account import accepted
from .base import PublicView, sign_in_response

MAGIC_LINK_ACCEPTED = "If an account uses this address, we have sent it a link to sign in."


class MagicLinkRequestView(PublicView):
    rate_limit_scope = "magic_link"

    @extend_schema(
        operation_id="request_magic_link",
        summary="Ask for an email sign-in link",
        description="Mails a single-use sign-in link (valid MAGIC_LINK_LIFETIME, built from "
        "MAGIC_LINK_URL) if an active account uses this address; a newer link voids the "
        "older ones. The answer is the same, and as fast, whether or not one does. The "
        "optional `device_name` names the session the link opens. Rate limited per client "
        "IP and per address.",
        request=MagicLinkRequestSerializer,
        responses={202: AcceptedSerializer, **errors(BODY, RATE_LIMITED)},
        parameters=ERROR_HEADERS,
        auth=[],
        tags=["auth"],
    )
    def post(self, request):
        data = self.validated(MagicLinkRequestSerializer, request)
        request_magic_link(data["email"], self.client(request, data["device_name"]))
        return accepted(MAGIC_LINK_ACCEPTED)


class MagicLinkConfirmView(PublicView):
    rate_limit_scope = "magic_link_confirm"

    @extend_schema(
        operation_id="confirm_magic_link",
        summary="Sign in with an email sign-in link",
        description="Exchanges the `token` of a sign-in mail, once, for the token response "
        '(`amr` is `["email"]`); a user with a second factor gets the MFA challenge '
        "instead, to finish at mfa/verify/. Using the link proves the email address. The "
        "link is void once used, past MAGIC_LINK_LIFETIME, after a newer link, and after a "
        "credential change. With a `DPoP` proof the tokens are bound to its key. Rate limited "
        "per client IP and per address.",
        request=MagicLinkConfirmSerializer,
        responses={
            200: SignInResponse,
            **errors(
                BODY,
                {
                    400: [
                        (
                            "token_invalid",
                            "the link is unknown, used, voided by a newer one or by a "
                            "credential change, or its account is disabled",
                        ),
                        ("token_expired", "the link is older than MAGIC_LINK_LIFETIME"),
                    ],
                    401: [("invalid_credentials", "the sign-in details changed meanwhile")],
                },
                RATE_LIMITED,
                DPOP_SIGN_IN,
            ),
        },
        parameters=[COOKIE_MODE, *DPOP_HEADERS, *ERROR_HEADERS],
        auth=[],
        tags=["auth"],
    )
    def post(self, request):
        data = self.validated(MagicLinkConfirmSerializer, request)
        outcome = confirm_magic_link(data["token"], self.sign_in_client(request))
        return sign_in_response(request, outcome)
