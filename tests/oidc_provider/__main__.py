"""Run the test OpenID Connect provider in the foreground.

    python -m tests.oidc_provider --port 8700 \\
        --client secureauth-demo:demo-secret:http://localhost:3000/callback \\
        --user alice:alice@example.com

Users consent automatically; pick one with ``login_hint=<login>`` on /authorize.
"""

from __future__ import annotations

import argparse
import time

from .provider import OIDCProvider


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument(
        "--client",
        default="secureauth-demo:demo-secret:http://localhost:3000/callback",
        help="client_id:secret:redirect_uri",
    )
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        help="login:email[:unverified] (repeatable; default alice:alice@example.com)",
    )
    args = parser.parse_args()
    provider = OIDCProvider(port=args.port)
    client_id, secret, redirect_uri = args.client.split(":", 2)
    provider.add_client(client_id, secret, [redirect_uri])
    for spec in args.user or ["alice:alice@example.com"]:
        login, email, *flags = spec.split(":")
        provider.add_user(login, email=email, email_verified="unverified" not in flags)
    provider.start()
    print(f"OIDC provider at {provider.issuer} (client {client_id}, users {list(provider.users)})")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        provider.stop()


if __name__ == "__main__":
    main()
