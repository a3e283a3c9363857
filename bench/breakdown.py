"""Where the time of a SecureAuth refresh, login lookup and authenticated request goes.

    .venv/bin/python -m bench.breakdown [--postgres] [--redis] [--pg-prepared] [-n 2000]

Times each step of the hot paths in isolation (µs per call, best of 5 repeats),
next to simplejwt's equivalent steps, plus a few alternatives (marked "alt:")
that docs/performance.md discusses: the code the current one replaced, and the
same lookup without the security-state subqueries. The last section splits single
statements into compiling the SQL (Django) and executing it (driver + database,
including PostgreSQL's planning). A diagnostic, not a target check; numbers are
only comparable within one run.
"""

from __future__ import annotations

import argparse
import os
import timeit
from collections.abc import Callable

from bench import common


def best_us(fn: Callable[[], object], number: int) -> float:
    fn()
    runs = timeit.repeat(fn, number=number, repeat=5)
    return min(runs) / number * 1e6


def chain(step: Callable[[str], str], first: str) -> Callable[[], None]:
    """A callable that calls ``step(token) -> next token`` on its own previous result."""
    state = {"token": first}

    def call() -> None:
        state["token"] = step(state["token"])

    return call


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--redis", action="store_true")
    parser.add_argument(
        "--pg-prepared", action="store_true", help="PostgreSQL: prepared statements"
    )
    parser.add_argument(
        "-n", "--number", type=int, default=2000, help="calls per repeat (whole services: n/10)"
    )
    args = parser.parse_args(argv)
    load_before = " ".join(f"{v:.2f}" for v in os.getloadavg())
    common.configure(
        postgres=args.postgres, redis=args.redis, hasher="md5", prepared=args.pg_prepared
    )
    import django

    common.recreate_database()
    django.setup()
    common.migrate()
    common.clear_cache()
    user = common.create_user()

    from django.contrib.auth import get_user_model
    from django.test import RequestFactory
    from rest_framework_simplejwt.authentication import JWTAuthentication
    from rest_framework_simplejwt.serializers import TokenRefreshSerializer
    from rest_framework_simplejwt.tokens import AccessToken
    from rest_framework_simplejwt.tokens import RefreshToken as JWTRefresh

    from secureauth.api.serializers.core import token_data
    from secureauth.authentication import AccessTokenAuthentication
    from secureauth.client import ClientInfo
    from secureauth.crypto import derive_child_token, token_digest
    from secureauth.models import RefreshToken, Session
    from secureauth.models.sessions import user_with_session_state
    from secureauth.models.users import load_security_state, with_security_state
    from secureauth.services.rotation import rotate_refresh_token
    from secureauth.services.sessions import start_session
    from secureauth.services.users import find_user_by_email
    from secureauth.throttling import enforce_rate
    from secureauth.tokens import decode_access_token, encode_access_token

    User = get_user_model()
    load_security_state(user)
    client = ClientInfo(ip="127.0.0.1", user_agent=common.USER_AGENT)
    issued = start_session(user, client, ["pwd"])
    claims = decode_access_token(issued.access_token)
    jw_refresh = JWTRefresh.for_user(user)
    jw_access = str(jw_refresh.access_token)
    factory = RequestFactory()
    request = factory.post("/auth/refresh/", REMOTE_ADDR="127.0.0.1")
    sa_get = factory.get("/api/secureauth/", HTTP_AUTHORIZATION=f"Bearer {issued.access_token}")
    jw_get = factory.get("/api/simplejwt/", HTTP_AUTHORIZATION=f"Bearer {jw_access}")
    sa_auth, jw_auth = AccessTokenAuthentication(), JWTAuthentication()
    token_hash = token_digest(issued.refresh_token)
    plain_lookup = RefreshToken.objects.select_related("session__user")

    from django.db import connection

    from secureauth.models.sessions import _users_with_session_state
    from secureauth.models.tokens import _lookup_queryset

    def split(queryset) -> tuple[Callable[[], object], Callable[[], object]]:
        """(compile, execute): Django turning the queryset into SQL (no database), and
        the database driver running that SQL and fetching the row (no ORM)."""
        sql, params = queryset.query.sql_with_params()

        def compile_sql():
            return queryset.query.chain().get_compiler(using=queryset.db).as_sql()

        def execute_sql():
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()

        return compile_sql, execute_sql

    # The same querysets as the code under test builds (its memoized bases, filtered).
    statements = {
        "refresh lookup": _lookup_queryset().filter(token_hash=token_hash)[:1],
        "refresh lookup w/o subqueries": plain_lookup.filter(token_hash=token_hash)[:1],
        "user_with_session_state": _users_with_session_state().filter(sa_session_id=claims["sid"])[
            :1
        ],
        "simplejwt's User.objects.get": User.objects.filter(pk=user.pk),
    }
    split_rows = []
    for label, queryset in statements.items():
        compile_sql, execute_sql = split(queryset)
        split_rows += [
            (f"{label}: compile the SQL (Django)", compile_sql, 1),
            (f"{label}: execute it (driver + database)", execute_sql, 1),
        ]

    def sa_refresh(token: str) -> str:
        return rotate_refresh_token(token, client).refresh_token

    def jw_refresh_step(token: str) -> str:
        serializer = TokenRefreshSerializer(data={"refresh": token})
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data["refresh"]

    whole = 10  # whole services run n / whole times per repeat (they write rows)
    rows: list[tuple[str, Callable[[], object] | None, int]] = [
        ("authenticated request", None, 1),
        (
            "secureauth: AccessTokenAuthentication.authenticate (whole check)",
            lambda: sa_auth.authenticate(sa_get),
            1,
        ),
        (
            "secureauth: decode_access_token (one parse, decode_complete)",
            lambda: decode_access_token(issued.access_token),
            1,
        ),
        (
            "secureauth: user_with_session_state (user + session state, 1 query)",
            lambda: user_with_session_state(claims["sid"]),
            1,
        ),
        (
            "alt: previous check, Session.objects.with_user (session + user)",
            lambda: Session.objects.with_user(claims["sid"]),
            1,
        ),
        (
            "simplejwt: JWTAuthentication.authenticate (whole check)",
            lambda: jw_auth.authenticate(jw_get),
            1,
        ),
        ("simplejwt: AccessToken(token)", lambda: AccessToken(jw_access), 1),
        ("simplejwt: User.objects.get(id=...) (1 query)", lambda: User.objects.get(pk=user.pk), 1),
        ("login: finding the user", None, 1),
        (
            "secureauth: find_user_by_email (indexed username + security state)",
            lambda: find_user_by_email(common.EMAIL),
            1,
        ),
        (
            "alt: the same user query without the security-state subqueries",
            lambda: list(User._default_manager.filter(**{User.USERNAME_FIELD: common.EMAIL})[:1]),
            1,
        ),
        (
            "simplejwt (ModelBackend): get_by_natural_key (1 query)",
            lambda: User._default_manager.get_by_natural_key(common.EMAIL),
            1,
        ),
        ("refresh", None, 1),
        (
            "secureauth: RefreshToken.objects.lookup (prebuilt queryset, 1 query)",
            lambda: RefreshToken.objects.lookup(token_hash),
            1,
        ),
        (
            "alt: previous lookup, queryset rebuilt per call + .first()",
            lambda: (
                with_security_state(
                    RefreshToken.objects.select_related("session__user"), "session__user"
                )
                .filter(token_hash=token_hash)
                .first()
            ),
            1,
        ),
        (
            "alt: lookup without the security-state subqueries",
            lambda: list(plain_lookup.filter(token_hash=token_hash)[:1]),
            1,
        ),
        (
            "secureauth: derive_child_token (HMAC)",
            lambda: derive_child_token(issued.refresh_token),
            1,
        ),
        (
            "secureauth: encode_access_token",
            lambda: encode_access_token(
                user_id="1", session_id=claims["sid"], roles=[], amr=["pwd"]
            ),
            1,
        ),
        (
            "secureauth: enforce_rate('refresh') (cache)",
            lambda: enforce_rate(request, "refresh", "127.0.0.1"),
            1,
        ),
        ("secureauth: token_data(issued) (response dict)", lambda: token_data(issued), 1),
        (
            "secureauth: rotate_refresh_token (whole service, 4 queries)",
            chain(sa_refresh, start_session(user, client, ["pwd"]).refresh_token),
            whole,
        ),
        (
            "simplejwt: TokenRefreshSerializer.is_valid (9 queries)",
            chain(jw_refresh_step, str(JWTRefresh.for_user(user))),
            whole,
        ),
        ("one statement: Django's share and the database's share", None, 1),
        *split_rows,
    ]
    n = args.number
    print(
        f"breakdown -- {common.describe_backends()}; best of 5 x {n} calls "
        f"(whole services: {max(50, n // whole)}); load average {load_before} before"
    )
    for name, fn, divisor in rows:
        if fn is None:
            print(f"\n{name}")
            continue
        number = n if divisor == 1 else max(50, n // divisor)
        print(f"  {name:<70} {best_us(fn, number):>9.1f} µs", flush=True)
    print(f"\nload average {' '.join(f'{v:.2f}' for v in os.getloadavg())} after")


if __name__ == "__main__":
    main()
