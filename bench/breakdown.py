"""Where the time of a SecureAuth refresh and authenticated request goes (µs per step).

    .venv/bin/python -m bench.breakdown [--postgres] [--redis] [-n 2000]

Times each step of the two hot paths in isolation (best of 5 repeats), next to
simplejwt's equivalent steps, plus a few alternatives to the current code
(marked "alt:") that docs/performance.md discusses. A diagnostic, not a target
check; numbers are only comparable within one run.
"""

from __future__ import annotations

import argparse
import timeit

from bench import common


def best_us(fn, number: int) -> float:
    fn()
    runs = timeit.repeat(fn, number=number, repeat=5)
    return min(runs) / number * 1e6


def chain(step, first):
    """A callable that calls ``step(token) -> next token`` on its own previous result."""
    state = {"token": first}

    def call():
        state["token"] = step(state["token"])

    return call


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--redis", action="store_true")
    parser.add_argument("-n", "--number", type=int, default=2000)
    args = parser.parse_args(argv)
    common.configure(postgres=args.postgres, redis=args.redis, hasher="md5")
    import django

    common.recreate_database()
    django.setup()
    common.migrate()
    common.clear_cache()
    user = common.create_user()

    from django.contrib.auth import get_user_model
    from django.test import RequestFactory
    from rest_framework_simplejwt.serializers import TokenRefreshSerializer
    from rest_framework_simplejwt.tokens import AccessToken
    from rest_framework_simplejwt.tokens import RefreshToken as JWTRefresh

    from secureauth.api.serializers import TokenResponseSerializer
    from secureauth.client import ClientInfo
    from secureauth.crypto import derive_child_token, hash_token
    from secureauth.models import RefreshToken, Session
    from secureauth.models.users import load_security_state, with_security_state
    from secureauth.services.rotation import rotate_refresh_token
    from secureauth.services.sessions import start_session
    from secureauth.throttling import enforce_rate
    from secureauth.tokens import decode_access_token, encode_access_token

    User = get_user_model()
    load_security_state(user)
    client = ClientInfo(ip="127.0.0.1", user_agent=common.USER_AGENT)
    issued = start_session(user, client, ["pwd"])
    claims = decode_access_token(issued.access_token)
    jw_refresh = JWTRefresh.for_user(user)
    jw_access = str(jw_refresh.access_token)
    request = RequestFactory().post("/auth/refresh/", REMOTE_ADDR="127.0.0.1")
    n = args.number
    token_hash = hash_token(issued.refresh_token)
    user_fields = [f"user__{f.name}" for f in User._meta.concrete_fields]
    session_needed = ["id", "user_id", "revoked_at", "expires_at", "amr"]
    base_lookup = with_security_state(
        RefreshToken.objects.select_related("session__user"), "session__user"
    )

    def sa_refresh(token: str) -> str:
        return rotate_refresh_token(token, client).refresh_token

    def jw_refresh_step(token: str) -> str:
        serializer = TokenRefreshSerializer(data={"refresh": token})
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data["refresh"]

    rows = [
        ("authenticated request", None),
        ("secureauth: decode_access_token", lambda: decode_access_token(issued.access_token)),
        (
            "secureauth: Session.for_authentication (session + user, 1 query)",
            lambda: Session.objects.for_authentication(claims["sid"]),
        ),
        (
            "alt: same query with .only(needed session columns, all user columns)",
            lambda: (
                Session.objects.select_related("user")
                .only(*session_needed, *user_fields)
                .get(pk=claims["sid"])
            ),
        ),
        ("simplejwt: AccessToken(token)", lambda: AccessToken(jw_access)),
        ("simplejwt: User.objects.get(id=...) (1 query)", lambda: User.objects.get(pk=user.pk)),
        ("refresh", None),
        (
            "secureauth: build with_security_state queryset (no SQL)",
            lambda: with_security_state(
                RefreshToken.objects.select_related("session__user"), "session__user"
            ),
        ),
        (
            "secureauth: RefreshToken.objects.lookup (build + 1 query)",
            lambda: RefreshToken.objects.lookup(token_hash),
        ),
        (
            "alt: lookup from a prebuilt annotated queryset",
            lambda: base_lookup.filter(token_hash=token_hash).first(),
        ),
        (
            "alt: lookup without security-state subqueries",
            lambda: (
                RefreshToken.objects.select_related("session__user")
                .filter(token_hash=token_hash)
                .first()
            ),
        ),
        ("secureauth: derive_child_token (HMAC)", lambda: derive_child_token(issued.refresh_token)),
        (
            "secureauth: encode_access_token",
            lambda: encode_access_token(
                user_id="1", session_id=claims["sid"], roles=[], amr=["pwd"]
            ),
        ),
        (
            "secureauth: enforce_rate('refresh') (cache)",
            lambda: enforce_rate(request, "refresh", "127.0.0.1"),
        ),
        (
            "secureauth: TokenResponseSerializer(issued).data",
            lambda: TokenResponseSerializer(issued).data,
        ),
        (
            "secureauth: rotate_refresh_token (service, 4 queries)",
            chain(sa_refresh, start_session(user, client, ["pwd"]).refresh_token),
        ),
        (
            "simplejwt: TokenRefreshSerializer.is_valid (9 queries)",
            chain(jw_refresh_step, str(JWTRefresh.for_user(user))),
        ),
    ]
    print(f"breakdown -- {common.describe_backends()}; best of 5 x {n} calls\n")
    for name, fn in rows:
        if fn is None:
            print(f"{name}")
            continue
        number = n if "rotate" not in name and "is_valid" not in name else max(50, n // 10)
        print(f"  {name:<72} {best_us(fn, number):>9.1f} µs")


if __name__ == "__main__":
    main()
