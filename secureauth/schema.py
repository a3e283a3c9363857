"""What drf-spectacular needs to describe SecureAuth, and how its views document errors.

Importing it (the views do, and ``SecureAuthConfig.ready()``) registers the extensions
(their metaclass does): the Bearer security scheme, so every view behind
``AccessTokenAuthentication`` shows the lock in Swagger UI and its Authorize button
takes an access token; and the schema of DRF's field errors.

The views describe their error responses with ``errors()``: every status an operation
can answer, each with the ``{"detail", "code"}`` body, the codes it can carry (listed
in the description, one example per code) and the ``Retry-After`` and
``WWW-Authenticate`` headers (``ERROR_HEADERS``)::

    @extend_schema(
        responses={204: None, **errors(BEARER, {404: [("not_found", "no such session")]})},
        parameters=ERROR_HEADERS,
    )
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from . import exceptions
from .api.serializers.errors import BAD_REQUEST, ErrorSerializer


class AccessTokenScheme(OpenApiAuthenticationExtension):
    """``Bearer <token>``, or (a DPoP-bound token) ``DPoP <token>`` with its proof."""

    target_class = "secureauth.authentication.AccessTokenAuthentication"
    name = ["BearerAuth", "DPoPAuth", "DPoPProof"]

    def get_security_requirement(self, auto_schema):
        return [{"BearerAuth": []}, {"DPoPAuth": [], "DPoPProof": []}]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "An access token from login/, refresh/ or another sign-in.",
            },
            {
                "type": "http",
                "scheme": "dpop",
                "description": "A DPoP-bound access token (`token_type: DPoP`, RFC 9449), "
                "sent as `Authorization: DPoP <token>` with the DPoP proof of the request.",
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": "DPoP",
                "description": "The DPoP proof JWT of this request (RFC 9449 §4): `htm` and "
                "`htu` of the request, `ath` of the access token, a fresh `iat` and `jti`.",
            },
        ]


#: The messages of DRF's field errors: a list of strings per field.
_MESSAGES = {"type": "array", "items": {"type": "string"}}


class FieldErrorsSchema(OpenApiSerializerExtension):
    """``{"<field>": ["<message>", ...]}``; a list field's items by index
    (``{"roles": {"0": ["..."]}}``)."""

    target_class = "secureauth.api.serializers.errors.FieldErrorsSerializer"

    def map_serializer(self, auto_schema, direction):
        return {
            "type": "object",
            "description": "Each refused field (or `non_field_errors`) with its messages; "
            "the items of a list field are keyed by their index.",
            "additionalProperties": {
                "oneOf": [_MESSAGES, {"type": "object", "additionalProperties": _MESSAGES}]
            },
        }


#: What each machine code means, in general; an operation may say more (``errors()``).
MEANINGS: dict[str, str] = {
    "invalid": "the body is not a JSON object SecureAuth can read, or asks for "
    "something that cannot be done",
    "invalid_credentials": "the credentials are wrong",
    "not_authenticated": "no access token was sent",
    "token_invalid": "the token is malformed, not signed by this service, of another "
    "issuer or audience, or its account is disabled",
    "token_expired": "the token, or its session, has expired",
    "token_reused": "a refresh token that was already rotated was presented again: the "
    "whole session is revoked",
    "session_revoked": "the token's session was revoked (logout, password change, reuse, "
    "an administrator)",
    "reauthentication_required": "the access token's `auth_time` is older than "
    "REAUTH_MAX_AGE: call reauthenticate/ and retry with the new token (RFC 9470)",
    "mfa_invalid": "the code is wrong, or was already used",
    "permission_denied": "the caller may not do this",
    "email_unverified": "the account's email address is not verified yet",
    "not_found": "there is no such resource (or it is someone else's)",
    "email_taken": "an account already uses this email address",
    "account_exists": "the email belongs to an account that cannot be linked "
    "automatically: sign in and link the provider with social/<backend>/connect/",
    "rate_limited": "too many attempts: retry after `Retry-After` seconds",
    "request_too_large": "the body is larger than MAX_REQUEST_BYTES",
    "service_unavailable": "the database, the cache or the provider is unreachable: "
    "retry later (after `Retry-After` seconds when given)",
    "invalid_dpop_proof": "the DPoP proof is missing, malformed, already used, not for "
    "this request, or not by the key the token is bound to (RFC 9449)",
    "use_dpop_nonce": "DPOP_NONCE is on: sign the proof again with the nonce of the "
    "`DPoP-Nonce` header (RFC 9449 §8)",
}

#: A typical ``detail`` per code, for the examples.
DETAILS: dict[str, str] = {
    error.code: error.default_detail
    for error in (
        exceptions.Invalid,
        exceptions.InvalidCredentials,
        exceptions.NotAuthenticated,
        exceptions.TokenInvalid,
        exceptions.TokenExpired,
        exceptions.TokenReused,
        exceptions.SessionRevoked,
        exceptions.ReauthenticationRequired,
        exceptions.MFAInvalid,
        exceptions.PermissionDenied,
        exceptions.EmailUnverified,
        exceptions.NotFound,
        exceptions.EmailTaken,
        exceptions.AccountExists,
        exceptions.RateLimited,
        exceptions.ServiceUnavailable,
        exceptions.InvalidDPoPProof,
        exceptions.UseDPoPNonce,
    )
} | {"request_too_large": "Request body is too large."}

#: Codes by status: a code alone (its general meaning), or ``(code, what it means here)``.
ErrorCodes = Mapping[int, Iterable[str | tuple[str, str]]]

#: The operation reads a JSON body: field errors, an unreadable body, a too large one.
BODY: ErrorCodes = {400: ["invalid"], 413: ["request_too_large"]}
#: The operation needs ``Authorization: Bearer <access token>``.
BEARER: ErrorCodes = {
    401: ["not_authenticated", "token_invalid", "token_expired", "session_revoked"]
}
#: A sent access token must be valid, though none is needed.
OPTIONAL_BEARER: ErrorCodes = {401: ["token_invalid", "token_expired", "session_revoked"]}
#: A DPoP-bound access token needs its proof (RFC 9449 §7), answered with a DPoP challenge:
#: ``errors()`` adds these wherever an access token is taken (BEARER, OPTIONAL_BEARER).
DPOP_TOKEN: ErrorCodes = {401: ["invalid_dpop_proof", "use_dpop_nonce"]}
#: A sign-in or refresh/ with a ``DPoP`` header (RFC 9449 §5): 400, as at a token endpoint.
DPOP_SIGN_IN: ErrorCodes = {
    400: [
        (
            "invalid_dpop_proof",
            "the DPoP proof is malformed, already used or not for this request; for a "
            "refresh token bound to a key, the proof is missing or by another key",
        ),
        "use_dpop_nonce",
        ("invalid", "DPOP_REQUIRED is on and the request has no DPoP proof"),
    ]
}
#: The operation needs a recent proof of the user (``IsRecentlyAuthenticated``).
RECENT_AUTH: ErrorCodes = {401: ["reauthentication_required"]}
#: The operation needs a verified email (``HasVerifiedEmail``).
VERIFIED_EMAIL: ErrorCodes = {403: ["email_unverified"]}
RATE_LIMITED: ErrorCodes = {429: ["rate_limited"]}
#: A password re-entered in the body is wrong (400: not an expired token).
WRONG_PASSWORD: ErrorCodes = {400: [("invalid_credentials", "the password is wrong")]}
#: A TOTP or recovery code in the body is wrong or was used.
WRONG_CODE: ErrorCodes = {401: [("mfa_invalid", "the code is wrong or was already used")]}
#: The operation needs two-factor authentication on.
MFA_OFF: ErrorCodes = {409: [("invalid", "two-factor authentication is off")]}
UNAVAILABLE: ErrorCodes = {503: ["service_unavailable"]}

ERROR_HEADERS = [
    OpenApiParameter(
        "Retry-After",
        OpenApiTypes.INT,
        OpenApiParameter.HEADER,
        response=[429, 503],
        description="Seconds to wait before trying again.",
    ),
    OpenApiParameter(
        "WWW-Authenticate",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=[401],
        description="`Bearer`; for `reauthentication_required`, `Bearer error="
        '"insufficient_user_authentication", max_age=<REAUTH_MAX_AGE seconds>` (RFC 9470); '
        'for `invalid_dpop_proof` and `use_dpop_nonce`, `DPoP error="<code>"` (RFC 9449).',
    ),
]

#: The ``DPoP`` proof a sign-in or refresh/ may send, binding the tokens to its key.
DPOP_PROOF = OpenApiParameter(
    "DPoP",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="A DPoP proof JWT (RFC 9449 §4) for this request: the tokens are bound to "
    "its key (`token_type: DPoP`, `cnf.jkt` in the access token) and refreshing them needs "
    "a proof by the same key. Required when DPOP_REQUIRED is on.",
)
#: The server nonce (DPOP_NONCE on) that proofs must carry.
DPOP_NONCE = OpenApiParameter(
    "DPoP-Nonce",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200, 400],
    description="With DPOP_NONCE on: the nonce the next DPoP proofs must carry.",
)
#: The headers of an operation that issues tokens.
DPOP_HEADERS = [DPOP_PROOF, DPOP_NONCE]

#: Cookie mode asked for by the client (API.md "Token response").
COOKIE_MODE = OpenApiParameter(
    "X-SecureAuth-Cookie",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    enum=["1"],
    description="`1`: cookie mode. The refresh token is set as an HttpOnly cookie scoped "
    "to the mount point instead of being returned in the body; refresh/ and logout/ "
    "then read it from the cookie, and need this header (a CSRF defence).",
)


def _merge(groups: Iterable[ErrorCodes]) -> dict[int, dict[str, list[str]]]:
    merged: dict[int, dict[str, list[str]]] = {}
    for group in groups:
        for status, codes in group.items():
            by_code = merged.setdefault(status, {})
            for entry in codes:
                code, meaning = (entry, None) if isinstance(entry, str) else entry
                meanings = by_code.setdefault(code, [])
                if meaning and meaning not in meanings:
                    meanings.append(meaning)
    return merged


def _error_response(status: int, codes: dict[str, list[str]]) -> OpenApiResponse:
    lines = [
        f"- `{code}`: {'; '.join(meanings or [MEANINGS[code]])}" for code, meanings in codes.items()
    ]
    examples = [
        OpenApiExample(
            code,
            value={"detail": DETAILS.get(code, DETAILS["invalid"]), "code": code},
            summary=code,
        )
        for code in codes
    ]
    phrase = HTTPStatus(status).phrase
    if status == 400:
        examples.insert(
            0,
            OpenApiExample(
                "field_errors",
                value={"<field>": ["This field is required."]},
                summary="field errors",
            ),
        )
        description = (
            f'{phrase}: field errors in DRF\'s shape, `{{"<field>": ["<message>", ...]}}`; '
            'or `{"detail", "code"}` where `code` is one of:\n\n' + "\n".join(lines)
        )
        return OpenApiResponse(BAD_REQUEST, description, examples)
    description = f"{phrase}: `code` is one of:\n\n" + "\n".join(lines)
    return OpenApiResponse(ErrorSerializer, description, examples)


def errors(*groups: ErrorCodes) -> dict[int, OpenApiResponse]:
    """The error responses of an operation, from groups of codes by status (merged, in
    order), and 503 ``service_unavailable``: an operation that touches neither the
    database nor the cache (the key set) has no error response."""
    takes_token = any(group is BEARER or group is OPTIONAL_BEARER for group in groups)
    merged = _merge([*groups, *([DPOP_TOKEN] if takes_token else []), UNAVAILABLE])
    return {status: _error_response(status, merged[status]) for status in sorted(merged)}
