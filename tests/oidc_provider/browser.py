"""Play the browser and the client app against an OpenID Connect provider.

    python -m tests.oidc_provider.browser --issuer http://127.0.0.1:8700 --login alice

makes a PKCE verifier, a nonce and a state, follows /authorize (the test
provider consents for ``--login`` automatically), reads the code from the
redirect and prints the JSON body for ``POST /auth/social/oidc/``.
"""

from __future__ import annotations

import argparse
import json
import secrets
from urllib.parse import parse_qs, urlsplit

import requests

from .provider import pkce_pair


def authorization_code(
    issuer: str, client_id: str, redirect_uri: str, login: str
) -> dict[str, str]:
    verifier, challenge = pkce_pair()
    nonce, state = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    response = requests.get(
        issuer.rstrip("/") + "/authorize",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid email profile",
            "login_hint": login,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "nonce": nonce,
            "state": state,
        },
        allow_redirects=False,
        timeout=5,
    )
    if response.status_code != 302:
        raise SystemExit(f"/authorize answered {response.status_code}: {response.text}")
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    if "code" not in query or query.get("state") != [state]:
        raise SystemExit(f"no code in the redirect: {response.headers['Location']}")
    return {
        "code": query["code"][0],
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        "nonce": nonce,
        "state": state,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issuer", default="http://127.0.0.1:8700")
    parser.add_argument("--client-id", default="secureauth-demo")
    parser.add_argument("--redirect-uri", default="http://localhost:3000/callback")
    parser.add_argument("--login", default="alice")
    args = parser.parse_args()
    body = authorization_code(args.issuer, args.client_id, args.redirect_uri, args.login)
    print(json.dumps(body))


if __name__ == "__main__":
    main()
