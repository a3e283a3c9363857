"""A pure-Python OpenID Connect provider on a loopback port, for tests and local trials.

It implements what a real issuer does for the authorization-code flow:
discovery document, JWKS with an RS256 key, ``/authorize`` issuing codes bound
to the client, ``redirect_uri``, PKCE challenge and ``nonce`` (the test user is
chosen with ``login_hint`` and consents automatically), ``/token`` (a code is
single use, PKCE S256/plain checked, client authenticated by HTTP Basic or
form fields; returns ``access_token`` + ``id_token``) and ``/userinfo``.

Per user: ``email``, ``email_verified``, ``amr`` (and, for the GitHub-shaped API,
``github_id`` and ``emails``). Knobs: ``tamper_id_token = True`` makes ``/token``
hand out ID tokens with a broken signature; ``omit_at_hash = True`` leaves
``at_hash`` out of them; ``answer_overrides["tokeninfo" | "github_check"]`` is merged
into those answers (e.g. a stale ``exp``).

Every access token remembers the client it was issued to, and ``vendors.py`` serves
Google- and GitHub-shaped APIs under ``/google/`` and ``/github/`` (tokeninfo, user
data, "check a token"), so tests can hand SecureAuth a token issued to another app.

Run it standalone: ``python -m tests.oidc_provider --port 8700``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from . import vendors

CODE_LIFETIME = 60
TOKEN_LIFETIME = 300


def pkce_pair() -> tuple[str, str]:
    """A fresh (code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


@dataclass
class ProviderUser:
    sub: str
    email: str = ""
    email_verified: bool = True
    name: str = ""
    amr: list[str] = field(default_factory=lambda: ["pwd"])
    login: str = ""
    github_id: int = field(default_factory=lambda: 100000 + secrets.randbelow(10**8))
    #: GitHub's /user/emails answer; None: the one ``email`` as primary, ``email_verified``.
    emails: list[dict] | None = None


@dataclass
class Client:
    client_id: str
    secret: str
    redirect_uris: list[str]


class OIDCProvider:
    """The provider's state; ``start()`` serves it on 127.0.0.1 in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-" + secrets.token_hex(4)
        self.clients: dict[str, Client] = {}
        self.users: dict[str, ProviderUser] = {}
        self.codes: dict[str, dict] = {}
        self.access_tokens: dict[str, dict] = {}
        self.tamper_id_token = False
        self.omit_at_hash = False
        self.answer_overrides: dict[str, dict] = {}
        self.token_requests: list[dict] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), self._handler_class())
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    # -- configuration -------------------------------------------------------
    @property
    def issuer(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def add_client(self, client_id: str, secret: str, redirect_uris: list[str]) -> Client:
        self.clients[client_id] = Client(client_id, secret, list(redirect_uris))
        return self.clients[client_id]

    def add_user(self, login: str, **claims) -> ProviderUser:
        claims.setdefault("sub", "sub-" + secrets.token_hex(6))
        self.users[login] = ProviderUser(login=login, **claims)
        return self.users[login]

    def access_token_for(self, login: str, client_id: str) -> str:
        """An access token of user ``login`` issued to ``client_id`` (as its own /token would)."""
        return self.issue_tokens(self.users[login], client_id)["access_token"]

    def grant_of(self, access_token: str) -> dict | None:
        """What an unexpired access token was issued for: ``user``, ``client_id``, ``expires``."""
        grant = self.access_tokens.get(access_token)
        if grant is None or grant["expires"] < time.time():
            return None
        return grant

    def reset(self) -> None:
        with self.lock:
            self.clients.clear()
            self.users.clear()
            self.codes.clear()
            self.access_tokens.clear()
            self.token_requests.clear()
            self.tamper_id_token = False
            self.omit_at_hash = False
            self.answer_overrides.clear()

    def start(self) -> OIDCProvider:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def jwks(self) -> dict:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def discovery(self) -> dict:
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "jwks_uri": f"{base}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "claims_supported": ["sub", "email", "email_verified", "name", "amr", "nonce"],
        }

    # -- endpoints -----------------------------------------------------------
    def authorize(self, query: dict[str, str]) -> tuple[int, dict, dict]:
        """Returns (status, headers, json body)."""
        client = self.clients.get(query.get("client_id", ""))
        redirect_uri = query.get("redirect_uri", "")
        if client is None or redirect_uri not in client.redirect_uris:
            return 400, {}, {"error": "invalid_request", "error_description": "bad client"}
        state = query.get("state")

        def back(params: dict) -> tuple[int, dict, dict]:
            if state is not None:
                params["state"] = state
            sep = "&" if "?" in redirect_uri else "?"
            return 302, {"Location": redirect_uri + sep + urlencode(params)}, {}

        if query.get("response_type") != "code" or "openid" not in query.get("scope", "").split():
            return back({"error": "unsupported_response_type"})
        user = self.users.get(query.get("login_hint", ""))
        if user is None:
            return back({"error": "access_denied"})
        method = query.get("code_challenge_method", "plain")
        if query.get("code_challenge") and method not in ("S256", "plain"):
            return back({"error": "invalid_request"})
        code = secrets.token_urlsafe(32)
        with self.lock:
            self.codes[code] = {
                "client_id": client.client_id,
                "redirect_uri": redirect_uri,
                "user": user,
                "nonce": query.get("nonce"),
                "code_challenge": query.get("code_challenge"),
                "code_challenge_method": method,
                "expires": time.time() + CODE_LIFETIME,
            }
        return back({"code": code})

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict]:
        self.token_requests.append(dict(form))
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, secret = decoded.partition(":")
        client = self.clients.get(client_id)
        if client is None or not secrets.compare_digest(client.secret, secret):
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        with self.lock:
            grant = self.codes.pop(form.get("code", ""), None)  # single use
        if grant is None or grant["expires"] < time.time():
            return 400, {"error": "invalid_grant", "error_description": "unknown or used code"}
        if grant["client_id"] != client_id or grant["redirect_uri"] != form.get("redirect_uri"):
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
        verifier = form.get("code_verifier")
        if grant["code_challenge"]:
            expected = (
                s256(verifier or "") if grant["code_challenge_method"] == "S256" else verifier
            )
            if not verifier or not secrets.compare_digest(expected or "", grant["code_challenge"]):
                return 400, {"error": "invalid_grant", "error_description": "PKCE failed"}
        elif verifier:
            return 400, {"error": "invalid_grant", "error_description": "no PKCE challenge"}
        return 200, self.issue_tokens(grant["user"], client_id, grant["nonce"])

    def issue_tokens(self, user: ProviderUser, client_id: str, nonce: str | None = None) -> dict:
        access_token = secrets.token_urlsafe(32)
        with self.lock:
            self.access_tokens[access_token] = {
                "user": user,
                "client_id": client_id,
                "expires": time.time() + TOKEN_LIFETIME,
            }
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": user.sub,
            "aud": client_id,
            "iat": now,
            "exp": now + TOKEN_LIFETIME,
            "auth_time": now,
            "amr": list(user.amr),
            "email": user.email,
            "email_verified": user.email_verified,
            "at_hash": at_hash(access_token),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if self.omit_at_hash:
            del claims["at_hash"]
        id_token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
        if self.tamper_id_token:
            head, payload, signature = id_token.split(".")
            flipped = "A" if signature[10] != "A" else "B"
            id_token = ".".join([head, payload, signature[:10] + flipped + signature[11:]])
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "id_token": id_token,
        }

    def userinfo(self, authorization: str) -> tuple[int, dict]:
        token = authorization[7:] if authorization.startswith("Bearer ") else ""
        grant = self.grant_of(token)
        if grant is None:
            return 401, {"error": "invalid_token"}
        user = grant["user"]
        info = {"sub": user.sub, "email_verified": user.email_verified, "name": user.name}
        if user.email:
            info["email"] = user.email
        return 200, info

    # -- HTTP ----------------------------------------------------------------
    def _handler_class(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # quiet
                pass

            def _send(self, status: int, body, headers: dict | None = None) -> None:
                payload = json.dumps(body).encode() if body or status != 302 else b""
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self):
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self._send(200, provider.discovery())
                elif url.path == "/jwks":
                    self._send(200, provider.jwks())
                elif url.path == "/authorize":
                    status, headers, body = provider.authorize(query)
                    self._send(status, body, headers)
                elif url.path == "/userinfo":
                    self._send(*provider.userinfo(self.headers.get("Authorization", "")))
                elif vendors.serves(url.path):
                    self._send(*vendors.answer(provider, "GET", url.path, query, self.headers))
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self):
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if vendors.serves(url.path):
                    try:
                        body = json.loads(raw or "null")
                    except ValueError:
                        body = None
                    self._send(*vendors.answer(provider, "POST", url.path, body, self.headers))
                    return
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                if url.path == "/token":
                    self._send(*provider.token(form, self.headers.get("Authorization", "")))
                elif url.path == "/userinfo":
                    self._send(*provider.userinfo(self.headers.get("Authorization", "")))
                else:
                    self._send(404, {"error": "not_found"})

        return Handler
