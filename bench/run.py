"""In-process benchmark: time and database queries per call, side by side.

    .venv/bin/python bench/run.py [--postgres] [--redis] [-n 300] [--login-iterations 30]
    .venv/bin/python -m bench ...           (the same)
    .venv/bin/python bench/run.py --http ... (the HTTP mode: bench/loadtest.py)

Each call goes through Django's test Client (URL routing, middleware, DRF view,
JSON rendering) on the real routes of bench/urls.py. Timing passes run without
query capture; a separate pass counts queries with CaptureQueriesContext. It is
a report: a missed target does not make it fail (exit 0).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable, not its folder
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(_here.parent))

from bench import common  # noqa: E402

CALLS = ("login", "refresh", "get", "me")
IMPLS = ("secureauth", "simplejwt", "bare")
TX_PREFIXES = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


@dataclass
class Result:
    call: str
    impl: str
    times_ms: list[float] = field(default_factory=list)
    beyond_hash_ms: list[float] = field(default_factory=list)  # time minus password verify
    queries: list[int] = field(default_factory=list)  # SQL statements doing work, per call
    tx_statements: list[int] = field(default_factory=list)  # BEGIN/SAVEPOINT/... per call
    sample_sql: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p90(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]

    @property
    def query_count(self) -> int:
        return max(self.queries) if self.queries else 0

    @property
    def tx_count(self) -> int:
        return max(self.tx_statements) if self.tx_statements else 0

    def summary(self) -> dict:
        data = asdict(self)
        del data["times_ms"]
        data["beyond_hash_ms"] = (
            round(statistics.median(self.beyond_hash_ms), 3) if self.beyond_hash_ms else None
        )
        data.update(
            median_ms=round(self.median, 3),
            p90_ms=round(self.p90, 3),
            iterations=len(self.times_ms),
        )
        return data


class Calls:
    """The nine measured requests; each keeps the state it needs (current tokens)."""

    def __init__(self, client) -> None:
        self.client = client
        self.headers = {"HTTP_USER_AGENT": common.USER_AGENT}
        sa = self._ok(self._secureauth_login())
        jw = self._ok(self._simplejwt_login())
        self.sa_access, self.sa_refresh = sa["access_token"], sa["refresh_token"]
        self.jw_access, self.jw_refresh = jw["access"], jw["refresh"]

    def _post(self, path: str, body: dict):
        return self.client.post(path, body, content_type="application/json", **self.headers)

    @staticmethod
    def _ok(response) -> dict:
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.content[:300]!r}")
        return response.json()

    def _secureauth_login(self):
        return self._post("/auth/login/", {"email": common.EMAIL, "password": common.PASSWORD})

    def _simplejwt_login(self):
        return self._post("/jwt/login/", {"username": common.EMAIL, "password": common.PASSWORD})

    def get(self, call: str, impl: str) -> tuple[Callable[[], object], Callable[[object], None]]:
        """(request, after): only ``request`` is timed; ``after`` checks and keeps state."""

        def check(response) -> None:
            self._ok(response)

        def keep_sa(response) -> None:
            self.sa_refresh = self._ok(response)["refresh_token"]

        def keep_jw(response) -> None:
            self.jw_refresh = self._ok(response)["refresh"]

        bare_post = {"email": common.EMAIL, "password": common.PASSWORD}
        table = {
            ("login", "secureauth"): (self._secureauth_login, check),
            ("login", "simplejwt"): (self._simplejwt_login, check),
            ("login", "bare"): (lambda: self._post("/api/bare/", bare_post), check),
            (
                "refresh",
                "secureauth",
            ): (lambda: self._post("/auth/refresh/", {"refresh_token": self.sa_refresh}), keep_sa),
            ("refresh", "simplejwt"): (
                lambda: self._post("/jwt/refresh/", {"refresh": self.jw_refresh}),
                keep_jw,
            ),
            ("refresh", "bare"): (
                lambda: self._post("/api/bare/", {"refresh_token": self.sa_refresh}),
                check,
            ),
            ("get", "secureauth"): (
                lambda: self.client.get(
                    "/api/secureauth/",
                    HTTP_AUTHORIZATION=f"Bearer {self.sa_access}",
                    **self.headers,
                ),
                check,
            ),
            ("get", "simplejwt"): (
                lambda: self.client.get(
                    "/api/simplejwt/", HTTP_AUTHORIZATION=f"Bearer {self.jw_access}", **self.headers
                ),
                check,
            ),
            ("get", "bare"): (lambda: self.client.get("/api/bare/", **self.headers), check),
            ("me", "secureauth"): (
                lambda: self.client.get(
                    "/auth/me/", HTTP_AUTHORIZATION=f"Bearer {self.sa_access}", **self.headers
                ),
                check,
            ),
            ("me", "simplejwt"): (
                lambda: self.client.get(
                    "/api/simplejwt/me/",
                    HTTP_AUTHORIZATION=f"Bearer {self.jw_access}",
                    **self.headers,
                ),
                check,
            ),
            ("me", "bare"): (lambda: self.client.get("/api/bare/", **self.headers), check),
        }
        return table[(call, impl)]


def time_call(calls: Calls, results: dict, call: str, warmup: int, iterations: int) -> None:
    """Interleave the implementations (rotating their order) so drift hits all alike.
    Also records each call's time minus the time its password hasher spent verifying."""
    from bench.hashers import VerifyClock

    for i in range(warmup + iterations):
        shift = i % len(IMPLS)
        for impl in IMPLS[shift:] + IMPLS[:shift]:
            request, after = calls.get(call, impl)
            VerifyClock.take()
            start = time.perf_counter()
            response = request()
            elapsed = (time.perf_counter() - start) * 1000
            hashing = VerifyClock.take() * 1000
            after(response)
            if i >= warmup:
                results[(call, impl)].times_ms.append(elapsed)
                results[(call, impl)].beyond_hash_ms.append(elapsed - hashing)


def count_queries(calls: Calls, results: dict, call: str, samples: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for impl in IMPLS:
        result = results[(call, impl)]
        for _ in range(samples):
            request, after = calls.get(call, impl)
            with CaptureQueriesContext(connection) as captured:
                response = request()
            after(response)
            sql = [q["sql"] for q in captured.captured_queries]
            tx = [s for s in sql if s.lstrip().upper().startswith(TX_PREFIXES)]
            result.queries.append(len(sql) - len(tx))
            result.tx_statements.append(len(tx))
            result.sample_sql = sql


def time_password_hash(iterations: int) -> float:
    """Median time of one password check against the bench user's stored hash."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import check_password

    encoded = get_user_model().objects.get(username=common.EMAIL).password
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        check_password(common.PASSWORD, encoded)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(results: dict, hash_ms: float, backends: str, args) -> dict:
    print(f"\nSecureAuth vs simplejwt (rotate + blacklist) vs bare DRF view -- {backends}")
    print(
        f"iterations: login {args.login_iterations}, refresh/get {args.iterations}; "
        f"warm-up {args.warmup}; CPUs {os.cpu_count()}; load average {args.loadavg_before} "
        f"before, {' '.join(f'{v:.2f}' for v in os.getloadavg())} after\n"
    )
    head = (
        f"{'call':<8} {'implementation':<12} {'median ms':>10} {'p90 ms':>9} "
        f"{'queries':>8} {'+tx':>4}"
    )
    print(head)
    print("-" * len(head))
    label = {"bare": "bare DRF"}
    for call in CALLS:
        for impl in IMPLS:
            r = results[(call, impl)]
            print(
                f"{call:<8} {label.get(impl, impl):<12} {r.median:>10.3f} {r.p90:>9.3f} "
                f"{r.query_count:>8} {r.tx_count:>4}"
            )
    print(
        "\n(bare DRF: an unauthenticated view; POST for login/refresh parses the same JSON body.)"
        "\n(queries: SQL statements doing work; +tx: transaction control Django logs with them,"
        " BEGIN / COMMIT / SAVEPOINT, not counted as queries.)"
    )

    def r(call, impl):
        return results[(call, impl)]

    login_sa, login_jw = r("login", "secureauth"), r("login", "simplejwt")
    refresh_sa, refresh_jw = r("refresh", "secureauth"), r("refresh", "simplejwt")
    get_sa = r("get", "secureauth")
    beyond_sa = statistics.median(login_sa.beyond_hash_ms)
    beyond_jw = statistics.median(login_jw.beyond_hash_ms)
    print(f"\npassword hash (one check_password, timed alone): {hash_ms:.3f} ms median")
    print(
        "login beyond the password hash (each login's time minus its own verify time):"
        f" secureauth {beyond_sa:.3f} ms, {login_sa.query_count} queries;"
        f" simplejwt {beyond_jw:.3f} ms, {login_jw.query_count} queries"
        f" (ratio {beyond_sa / beyond_jw:.3f})"
    )
    print("\nratios (secureauth time / simplejwt time; < 1 means secureauth is faster)")
    ratios = {}
    for call in CALLS:
        ratio = r(call, "secureauth").median / r(call, "simplejwt").median
        ratios[call] = ratio
        print(
            f"  {call:<8} {ratio:.3f}   queries {r(call, 'secureauth').query_count}"
            f" vs {r(call, 'simplejwt').query_count}"
        )
    speedup = refresh_jw.median / refresh_sa.median
    beyond_ratio = beyond_sa / beyond_jw
    shared_cache = "redis" in backends.lower()
    targets = [
        (
            "refresh <= 0.67x simplejwt's time (rotation + blacklist)",
            ratios["refresh"] <= 0.67,
            f"{ratios['refresh']:.3f}x ({speedup:.2f}x faster), {refresh_sa.query_count} queries",
        ),
        (
            "me/ within 1.2x of simplejwt's equivalent view",
            ratios["me"] <= 1.2,
            f"{ratios['me']:.3f}x, {r('me', 'secureauth').query_count} queries",
        ),
        (
            "login beyond the password hash <= 1.3x simplejwt's",
            beyond_ratio <= 1.3,
            f"{beyond_ratio:.3f}x, {login_sa.query_count} queries",
        ),
    ]
    if shared_cache:
        targets.append(
            (
                "with the session cache, a host view faster than simplejwt's JWTAuthentication",
                ratios["get"] < 1.0 and get_sa.query_count == 0,
                f"{ratios['get']:.3f}x, {get_sa.query_count} queries",
            )
        )
    else:
        targets.append(
            (
                "without a shared cache, a host view in one query, within 1.1x of simplejwt's",
                ratios["get"] <= 1.1 and get_sa.query_count <= 1,
                f"{ratios['get']:.3f}x, {get_sa.query_count} queries",
            )
        )
    print("\ntargets")
    for name, ok, value in targets:
        print(f"  {verdict(ok)}  {name}: {value}")
    if args.show_sql:
        for call in CALLS:
            for impl in ("secureauth", "simplejwt"):
                print(f"\n-- SQL of one {impl} {call}")
                for statement in r(call, impl).sample_sql:
                    print("  ", statement[:300])
    return {
        "backends": backends,
        "cpus": os.cpu_count(),
        "password_hash_ms": round(hash_ms, 3),
        "results": [res.summary() for res in results.values()],
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "login_beyond_hash_ratio": round(beyond_sa / beyond_jw, 3),
        "refresh_speedup": round(speedup, 3),
        "targets": [{"target": n, "pass": ok, "value": v} for n, ok, v in targets],
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres",
        action="store_true",
        help=f"PostgreSQL (DATABASE_URL or {common.DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument(
        "--redis",
        action="store_true",
        help=f"Redis cache (REDIS_URL or {common.DEFAULT_REDIS_URL})",
    )
    parser.add_argument(
        "--pg-prepared",
        action="store_true",
        help="PostgreSQL: server-side binding and prepared statements (both implementations)",
    )
    parser.add_argument("--hasher", choices=("argon2", "pbkdf2", "md5"), default="argon2")
    parser.add_argument(
        "-n",
        "--iterations",
        type=int,
        default=300,
        help="timed iterations per implementation, refresh and GET",
    )
    parser.add_argument("--login-iterations", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--query-samples", type=int, default=5)
    parser.add_argument(
        "--extra-users", type=int, default=0, help="other accounts in the user table (scale)"
    )
    parser.add_argument("--show-sql", action="store_true", help="print the SQL of one call")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--http" in argv:  # the HTTP mode has its own options
        from bench.loadtest import main as http_main

        return http_main([arg for arg in argv if arg != "--http"])
    args = parse_args(argv)
    args.loadavg_before = " ".join(f"{v:.2f}" for v in os.getloadavg())
    common.configure(
        postgres=args.postgres, redis=args.redis, hasher=args.hasher, prepared=args.pg_prepared
    )
    import django

    common.recreate_database()
    django.setup()
    from django.test import Client

    common.migrate()
    common.clear_cache()
    common.create_user(extra_users=args.extra_users)
    if args.extra_users:
        from django.db import connection

        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
    backends = common.describe_backends() + f"; users: {args.extra_users + 1}"
    print(f"in-process benchmark -- {backends}", flush=True)

    calls = Calls(Client())
    results = {(c, i): Result(c, i) for c in CALLS for i in IMPLS}
    plan = {
        "login": (max(2, args.warmup // 5), args.login_iterations),
        "refresh": (args.warmup, args.iterations),
        "get": (args.warmup, args.iterations),
        "me": (args.warmup, args.iterations),
    }
    for call in CALLS:
        start = time.perf_counter()
        warmup, iterations = plan[call]
        time_call(calls, results, call, warmup, iterations)
        count_queries(calls, results, call, args.query_samples)
        print(f"  {call}: {time.perf_counter() - start:.1f} s", flush=True)
    hash_ms = time_password_hash(max(5, args.login_iterations // 2))
    data = report(results, hash_ms, backends, args)
    if args.json:
        args.json.write_text(json.dumps(data, indent=2) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
