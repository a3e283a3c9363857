"""DRF authentication with SecureAuth access tokens, bound to a live session."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from . import session_cache
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
from .models.users import SecurityState, attach_security_state
from .races import checkpoint
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
    """Verify the JWT, then check its session is still active and load its user
    (revocation is seen at once, in every process): from the shared session cache when
    it holds a current entry (no query), else in one query that loads the user and the
    session together and, with the session cache on, fills it. With
    ``with_security_state`` the user carries its ``SecurityState`` (the cache always
    has it; the query then loads it too)."""
    claims = decode_access_token(token)
    now = timezone.now()
    if not session_cache.enabled():
        row = user_with_session_state(claims["sid"], with_security=with_security_state)
        user = _check_session_state(row, claims, now)
        if with_security_state:
            attach_security_state(user, row)
        return user, AccessToken(claims, user)
    found = session_cache.lookup(claims["sid"], claims["sub"])
    if found.revoked:
        raise SessionRevoked()
    if found.user is not None and found.expires_at is not None and found.expires_at > now:
        if not found.user.is_active:
            raise TokenInvalid("This account is disabled.")
        return found.user, AccessToken(claims, found.user)
    generation = session_cache.take_generation(claims["sub"], found.generation)
    row = user_with_session_state(claims["sid"], with_security=True)
    checkpoint("auth.session_read")
    if row is not None and str(row.pk) == claims["sub"]:
        session_cache.fill(
            generation,
            claims["sid"],
            row,
            revoked=row.sa_session_revoked_at is not None,
            expires_at=row.sa_session_expires_at,
            state=SecurityState.from_annotations(row),
            now=now,
        )
    user = _check_session_state(row, claims, now)
    attach_security_state(user, row)
    return user, AccessToken(claims, user)


def _check_session_state(row: Any, claims: dict[str, Any], now: datetime) -> UserType:
    """The user of a row from ``user_with_session_state``, if its session is active."""
    if row is None or str(row.pk) != claims["sub"]:
        raise SessionRevoked("The session of this token no longer exists.")
    if row.sa_session_revoked_at is not None:
        raise SessionRevoked()
    if row.sa_session_expires_at <= now:
        raise TokenExpired("The session has expired.")
    if not row.is_active:
        raise TokenInvalid("This account is disabled.")
    return row


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
    for a DPoP-bound token: one query per request, none when the shared session cache
    holds the session. A view whose ``loads_security_state`` is True gets the user's
    SecurityState without another query."""

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
