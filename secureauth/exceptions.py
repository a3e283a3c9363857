"""SecureAuth's error types.

Services raise these; ``secureauth.api.exception_handler`` is the one place that
turns them into HTTP responses ``{"detail": ..., "code": ...}``.
"""

from __future__ import annotations


class SecureAuthError(Exception):
    status_code = 400
    code = "invalid"
    default_detail = "Invalid request."

    def __init__(self, detail: str | None = None, **extra: object) -> None:
        self.detail = detail or self.default_detail
        self.extra = extra
        super().__init__(self.detail)


class Invalid(SecureAuthError):
    pass


class InvalidCredentials(SecureAuthError):
    status_code = 401
    code = "invalid_credentials"
    default_detail = "Invalid email or password."


class IncorrectPassword(SecureAuthError):
    """A password re-entered by a signed-in caller is wrong: 400, not 401, so a client
    does not take it for an expired access token."""

    status_code = 400
    code = "invalid_credentials"
    default_detail = "The password is incorrect."


class NotAuthenticated(SecureAuthError):
    status_code = 401
    code = "not_authenticated"
    default_detail = "Authentication credentials were not provided."


class TokenInvalid(SecureAuthError):
    status_code = 401
    code = "token_invalid"
    default_detail = "Token is invalid."


class TokenExpired(SecureAuthError):
    status_code = 401
    code = "token_expired"
    default_detail = "Token has expired."


class TokenReused(SecureAuthError):
    status_code = 401
    code = "token_reused"
    default_detail = "Refresh token was already used; the session has been revoked."


class LinkTokenInvalid(SecureAuthError):
    """The token of a link sent by email (an email sign-in link) is unknown, used or
    voided: 400, not 401, since no credential of the caller is at fault."""

    status_code = 400
    code = "token_invalid"
    default_detail = "This link is invalid or was already used."


class LinkTokenExpired(SecureAuthError):
    """The token of a link sent by email is past its lifetime (400, as above)."""

    status_code = 400
    code = "token_expired"
    default_detail = "This link has expired."


class SessionRevoked(SecureAuthError):
    status_code = 401
    code = "session_revoked"
    default_detail = "This session has been revoked."


class PermissionDenied(SecureAuthError):
    status_code = 403
    code = "permission_denied"
    default_detail = "You do not have permission to perform this action."


class ReauthenticationRequired(SecureAuthError):
    """RFC 9470: the access token's ``auth_time`` is too old for this operation."""

    status_code = 401
    code = "reauthentication_required"
    default_detail = "Confirm your identity to perform this action."

    def __init__(self, detail: str | None = None, *, max_age: int = 300) -> None:
        super().__init__(detail)
        self.max_age = int(max_age)

    @property
    def www_authenticate(self) -> str:
        return f'Bearer error="insufficient_user_authentication", max_age={self.max_age}'


class EmailUnverified(SecureAuthError):
    status_code = 403
    code = "email_unverified"
    default_detail = "Verify your email address first."


class MFAInvalid(SecureAuthError):
    status_code = 401
    code = "mfa_invalid"
    default_detail = "The code is invalid."


class NotFound(SecureAuthError):
    status_code = 404
    code = "not_found"
    default_detail = "Not found."


class EmailTaken(SecureAuthError):
    status_code = 409
    code = "email_taken"
    default_detail = "An account with this email already exists."


class AccountExists(SecureAuthError):
    status_code = 409
    code = "account_exists"
    default_detail = "An account with this email already exists; sign in to link it."


class Conflict(SecureAuthError):
    status_code = 409
    code = "invalid"


class RateLimited(SecureAuthError):
    status_code = 429
    code = "rate_limited"
    default_detail = "Too many attempts. Try again later."

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail)
        self.retry_after = max(1, int(retry_after))


class ServiceUnavailable(SecureAuthError):
    status_code = 503
    code = "service_unavailable"
    default_detail = "The service is temporarily unavailable. Try again later."
    #: seconds a client is asked to wait (``Retry-After``) unless told otherwise
    default_retry_after = 5

    def __init__(self, detail: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after = max(1, int(retry_after or self.default_retry_after))


class MFAUnavailable(ServiceUnavailable):
    """The authenticator app's seed cannot be opened (its encryption key is not
    configured, or the sealed seed does not authenticate): a server fault, not a wrong
    code, so nothing is counted against the user."""

    default_detail = (
        "Authenticator codes cannot be checked right now; use a recovery code or try again later."
    )


class InvalidDPoPProof(SecureAuthError):
    """A DPoP proof (RFC 9449) is missing where needed, malformed, or does not match.

    400 on the endpoints that issue tokens (RFC 9449 §5); ``on_resource()`` makes the
    401 with a ``DPoP`` challenge that any other request answers (§7.1). ``nonce``, when
    set, goes out in the ``DPoP-Nonce`` header."""

    status_code = 400
    code = "invalid_dpop_proof"
    default_detail = "The DPoP proof is invalid."

    def __init__(self, detail: str | None = None, *, nonce: str | None = None) -> None:
        super().__init__(detail)
        self.nonce = nonce
        self.www_authenticate: str | None = None

    def on_resource(self) -> InvalidDPoPProof:
        error = type(self)(self.detail, nonce=self.nonce)
        error.status_code = 401
        error.www_authenticate = f'DPoP error="{self.code}"'
        return error


class UseDPoPNonce(InvalidDPoPProof):
    """The proof lacks the server's current nonce: retry with the one in ``DPoP-Nonce``."""

    code = "use_dpop_nonce"
    default_detail = "Send a DPoP proof with the server's nonce (DPoP-Nonce header)."
