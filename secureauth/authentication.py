"""DRF authentication with SecureAuth access tokens, bound to a live session."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from .api.dpop import proof_header, request_url
from .exceptions import (
    InvalidDPoPProof,
    SecureAuthError,
    ServiceUnavailable,
    SessionRevoked,
    TokenExpired,
    TokenInvalid,
)
from .models import Session
from .models.sessions import user_with_session_state
from .models.users import attach_security_state
from .services.dpop import accept_proof
from .tokens import decode_access_token

if TYPE_CHECKING:
    from rest_framework.request import Request

    from .types import UserType


class AuthenticationError(exceptions.AuthenticationFailed):
    """A SecureAuth error raised through DRF, so any view answers 401 with its code."""

    def __init__(self, error: SecureAuthError) -> None:
        super().__init__(detail=error.detail, code=error.code)


class SecureAuthAPIException(exceptions.APIException):
    """A SecureAuth error raised through DRF from a permission class, so a host's view
    answers with its status, code and challenge whatever its exception handler."""

    def __init__(self, error: SecureAuthError) -> None:
        super().__init__(detail=error.detail, code=error.code)
        self.status_code = error.status_code
        challenge = getattr(error, "www_authenticate", None)
        self.auth_header = challenge or ("Bearer" if error.status_code == 401 else None)
        self.dpop_nonce = getattr(error, "nonce", None)


class AccessToken:
    """``request.auth`` of a request authenticated by an access token.

    The session row itself is loaded only when a view asks for ``session``."""

    def __init__(self, claims: dict[str, Any], user: UserType) -> None:
        self.claims = claims
        self.session_id: str = claims["sid"]
        self._user = user
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = Session.objects.get(pk=self.session_id)
            self._session.user = self._user
        return self._session

    @property
    def amr(self) -> list[str]:
        return list(self.claims.get("amr") or [])

    @property
    def roles(self) -> list[str]:
        return list(self.claims.get("roles") or [])


def authenticate_access_token(
    token: str, *, with_security_state: bool = False
) -> tuple[UserType, AccessToken]:
    """Verify the JWT, then load its user and session state in one query and check
    the session is still active (revocation is seen at once, in every process). With
    ``with_security_state`` the same query loads the user's ``SecurityState``."""
    claims = decode_access_token(token)
    user = user_with_session_state(claims["sid"], with_security=with_security_state)
    if user is None or str(user.pk) != claims["sub"]:
        raise SessionRevoked("The session of this token no longer exists.")
    if user.sa_session_revoked_at is not None:
        raise SessionRevoked()
    if user.sa_session_expires_at <= timezone.now():
        raise TokenExpired("The session has expired.")
    if not user.is_active:
        raise TokenInvalid("This account is disabled.")
    if with_security_state:
        attach_security_state(user, user)
    return user, AccessToken(claims, user)


def verify_request_proof(request: Request, scheme: bytes, token: str, claims: dict) -> None:
    """RFC 9449 §7: a token bound to a DPoP key (``cnf.jkt``) is accepted only as
    ``Authorization: DPoP <token>`` with a proof by that key for this very request
    (``htm``, ``htu``, ``ath``, a fresh ``iat``, an unseen ``jti``: a cache call, no
    query); the ``DPoP`` scheme only with a bound token. 401 ``invalid_dpop_proof``."""
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if scheme == b"bearer" and jkt is None:
        return
    try:
        if scheme == b"bearer":
            raise InvalidDPoPProof("This access token is DPoP-bound: send it as DPoP with a proof.")
        if not isinstance(jkt, str):
            raise InvalidDPoPProof("This access token is not DPoP-bound: send it as Bearer.")
        accept_proof(
            proof_header(request),
            method=request.method or "",
            url=request_url(request),
            access_token=token,
            expected_jkt=jkt,
        )
    except InvalidDPoPProof as error:
        raise error.on_resource()


class AccessTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <access token>``, or ``DPoP <access token>`` with its proof
    for a DPoP-bound token: one query per request. A view whose ``loads_security_state``
    is True gets the user's SecurityState in that same query."""

    keyword = b"bearer"
    schemes = (b"bearer", b"dpop")

    def authenticate(self, request: Request) -> tuple[UserType, AccessToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in self.schemes:
            return None
        if len(parts) != 2:
            raise AuthenticationError(TokenInvalid("Malformed Authorization header."))
        try:
            token = parts[1].decode("ascii")
            view = (getattr(request, "parser_context", None) or {}).get("view")
            wanted = bool(getattr(view, "loads_security_state", False))
            user, access = authenticate_access_token(token, with_security_state=wanted)
            verify_request_proof(request, parts[0].lower(), token, access.claims)
            return user, access
        except UnicodeDecodeError:
            raise AuthenticationError(TokenInvalid("Malformed Authorization header."))
        except (InvalidDPoPProof, ServiceUnavailable) as error:
            raise SecureAuthAPIException(error)
        except SecureAuthError as error:
            raise AuthenticationError(error)

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"
