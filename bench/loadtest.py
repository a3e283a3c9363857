"""HTTP benchmark: gunicorn on PostgreSQL + Redis, under wrk, requests per second.

    .venv/bin/python -m bench --http [--duration 10] [--workers 4] [--connections 8]
    .venv/bin/python -m bench.loadtest ...      (the same)

Drops and recreates the PostgreSQL database ``secureauth_bench`` (DATABASE_URL
may name another one whose name contains "bench"), migrates it, starts gunicorn
on a free port of 127.0.0.1 and measures, for SecureAuth, simplejwt and the bare
view: login, refresh and an authenticated GET, each for ``--duration`` seconds.

Refresh under load: a pool of valid refresh tokens is minted beforehand for each
implementation (one per session / outstanding token, as after a login) and
written to a file; wrk's Lua script (bench/wrk.lua) gives each of its threads a
share of the file and sends a fresh token with every request. A pool that ran
out would show as non-2xx responses, which the report prints.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from bench import common
from bench.loadgen import LoadResult, Scenario, run_python, run_wrk, wrk_available

IMPLS = ("secureauth", "simplejwt", "bare")
CALLS = ("login", "refresh", "get", "me")


def loadavg() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post_json(url: str, body: dict, headers: dict | None = None) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "User-Agent": common.USER_AGENT,
            **(headers or {}),
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def mint_secureauth_pool(user, count: int, path: Path) -> None:
    """``count`` sessions, each with one live refresh token, as ``count`` logins would leave
    (bulk inserts: a login per token would spend most of the time hashing passwords)."""
    from django.utils import timezone

    from secureauth.crypto import new_refresh_token, token_digest
    from secureauth.models import RefreshToken, Session

    now = timezone.now()
    plains = [new_refresh_token() for _ in range(count)]
    sessions = Session.objects.bulk_create(
        [
            Session(
                user=user,
                device_name="Chrome on Linux",
                user_agent=common.USER_AGENT,
                browser="Chrome",
                os="Linux",
                device_type="desktop",
                ip="127.0.0.1",
                amr=["pwd"],
                created_at=now,
                last_used_at=now,
                expires_at=now + timedelta(days=30),
            )
            for _ in range(count)
        ],
        batch_size=2000,
    )
    RefreshToken.objects.bulk_create(
        [
            RefreshToken(
                session=session,
                token_hash=token_digest(plain),
                issued_at=now,
                expires_at=now + timedelta(days=14),
            )
            for session, plain in zip(sessions, plains, strict=True)
        ],
        batch_size=2000,
    )
    path.write_text("\n".join(plains) + "\n")


def mint_simplejwt_pool(user, count: int, path: Path) -> None:
    """``count`` refresh tokens, each recorded as outstanding (what ``for_user`` does)."""
    from rest_framework_simplejwt.settings import api_settings
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
    from rest_framework_simplejwt.tokens import RefreshToken
    from rest_framework_simplejwt.utils import datetime_from_epoch

    tokens, rows = [], []
    for _ in range(count):
        token = RefreshToken()
        token[api_settings.USER_ID_CLAIM] = str(user.pk)
        encoded = str(token)
        tokens.append(encoded)
        rows.append(
            OutstandingToken(
                user=user,
                jti=token[api_settings.JTI_CLAIM],
                token=encoded,
                created_at=token.current_time,
                expires_at=datetime_from_epoch(token["exp"]),
            )
        )
    OutstandingToken.objects.bulk_create(rows, batch_size=2000)
    path.write_text("\n".join(tokens) + "\n")


def start_server(port: int, args) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(common.ROOT)}
    cmd = [
        sys.executable, "-m", "gunicorn", "bench.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(args.workers),
        "--worker-class", args.worker_class,
        "--threads", str(args.worker_threads),
        "--log-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=common.ROOT, env=env)
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/bare/", timeout=1)
            return proc
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise SystemExit("gunicorn did not start") from None
            time.sleep(0.2)


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def scenarios(base: str, pools: dict[str, Path], login_users: int):
    """The twelve measured requests. Logins cycle through ``login_users`` accounts, each
    from its own X-Forwarded-For address, as many users signing in would: one account
    signing in from one address many times at once is what SecureAuth's login limiter
    counts as an attack (it counts every attempt before checking the password)."""
    credentials = {"email": common.EMAIL, "password": common.PASSWORD}
    login_email = common.LOGIN_EMAIL_TEMPLATE  # "{i}" is filled in per request
    sa = post_json(base + "/auth/login/", credentials)
    jw = post_json(base + "/jwt/login/", {"username": common.EMAIL, "password": common.PASSWORD})
    return {
        ("login", "secureauth"): Scenario(
            "POST",
            "/auth/login/",
            {"email": login_email, "password": common.PASSWORD},
            variants=login_users,
        ),
        ("login", "simplejwt"): Scenario(
            "POST",
            "/jwt/login/",
            {"username": login_email, "password": common.PASSWORD},
            variants=login_users,
        ),
        ("login", "bare"): Scenario(
            "POST",
            "/api/bare/",
            {"email": login_email, "password": common.PASSWORD},
            variants=login_users,
        ),
        ("refresh", "secureauth"): Scenario(
            "POST", "/auth/refresh/", token_file=pools["secureauth"], token_field="refresh_token"
        ),
        ("refresh", "simplejwt"): Scenario(
            "POST", "/jwt/refresh/", token_file=pools["simplejwt"], token_field="refresh"
        ),
        ("refresh", "bare"): Scenario("POST", "/api/bare/", {"refresh_token": sa["refresh_token"]}),
        ("get", "secureauth"): Scenario(
            "GET", "/api/secureauth/", auth=f"Bearer {sa['access_token']}"
        ),
        ("get", "simplejwt"): Scenario("GET", "/api/simplejwt/", auth=f"Bearer {jw['access']}"),
        ("get", "bare"): Scenario("GET", "/api/bare/"),
        ("me", "secureauth"): Scenario("GET", "/auth/me/", auth=f"Bearer {sa['access_token']}"),
        ("me", "simplejwt"): Scenario("GET", "/api/simplejwt/me/", auth=f"Bearer {jw['access']}"),
        ("me", "bare"): Scenario("GET", "/api/bare/"),
    }


def measure_call(call: str, plan: dict, load, args) -> dict[tuple[str, str], LoadResult]:
    """Alternate the implementations in ``args.rounds`` slices (rotating their order), so
    load from other processes on the machine hits all of them alike; sum the slices.
    Refresh slices each get their own chunk of the token pool."""
    slices: dict[str, list[LoadResult]] = {impl: [] for impl in IMPLS}
    seconds = max(1, round(args.duration / args.rounds))
    for index in range(args.rounds):
        order = IMPLS[index % 3 :] + IMPLS[: index % 3]
        for impl in order:
            scenario = plan[(call, impl)]
            if scenario.token_file is not None:
                scenario = replace(scenario, token_file=chunk(scenario.token_file, index, args))
            slices[impl].append(load(scenario, seconds))
    return {(call, impl): combine(parts) for impl, parts in slices.items()}


def chunk(pool: Path, index: int, args) -> Path:
    """The ``index``-th of ``args.rounds`` disjoint parts of a token pool file."""
    tokens = pool.read_text().split()
    size = len(tokens) // args.rounds
    part = pool.with_suffix(f".{index}")
    part.write_text("\n".join(tokens[index * size : (index + 1) * size]) + "\n")
    return part


def combine(parts: list[LoadResult]) -> LoadResult:
    """Sum of the slices; latency percentiles are the median of the slices' percentiles."""
    return LoadResult(
        requests=sum(p.requests for p in parts),
        seconds=sum(p.seconds for p in parts),
        non2xx=sum(p.non2xx for p in parts),
        errors=sum(p.errors for p in parts),
        p50_ms=statistics.median(p.p50_ms for p in parts),
        p90_ms=statistics.median(p.p90_ms for p in parts),
        p99_ms=statistics.median(p.p99_ms for p in parts),
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="slices the duration is cut into")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of warm-up per GET")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", default="gthread", choices=("gthread", "sync"))
    parser.add_argument("--worker-threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--refresh-pool", type=int, default=20000, help="tokens per implementation")
    parser.add_argument("--login-users", type=int, default=64, help="accounts logins cycle through")
    parser.add_argument("--hasher", choices=("argon2", "pbkdf2", "md5"), default="argon2")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    return parser.parse_args(argv)


def report(results: dict[tuple[str, str], LoadResult], header: str) -> dict:
    print(f"\n{header}\n")
    head = (
        f"{'call':<8} {'implementation':<12} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} "
        f"{'p99 ms':>8} {'requests':>9} {'non-2xx':>8} {'errors':>7}"
    )
    print(head)
    print("-" * len(head))
    for (call, impl), r in results.items():
        label = "bare DRF" if impl == "bare" else impl
        print(
            f"{call:<8} {label:<12} {r.rps:>9.1f} {r.p50_ms:>8.2f} {r.p90_ms:>8.2f} "
            f"{r.p99_ms:>8.2f} {r.requests:>9} {r.non2xx:>8} {r.errors:>7}"
        )
    print("\nthroughput ratio secureauth / simplejwt (> 1 means secureauth serves more)")
    ratios = {}
    for call in CALLS:
        simplejwt_rps = results[(call, "simplejwt")].rps
        ratio = results[(call, "secureauth")].rps / simplejwt_rps if simplejwt_rps else 0.0
        ratios[call] = round(ratio, 3)
        print(f"  {call:<8} {ratio:.3f}")
    return {
        "header": header,
        "results": [
            {
                "call": c,
                "impl": i,
                "rps": round(r.rps, 1),
                "p50_ms": r.p50_ms,
                "p90_ms": r.p90_ms,
                "p99_ms": r.p99_ms,
                "requests": r.requests,
                "non2xx": r.non2xx,
                "errors": r.errors,
            }
            for (c, i), r in results.items()
        ],
        "ratios": ratios,
    }


def main(argv=None) -> None:
    args = parse_args(argv)
    common.configure(postgres=True, redis=True, hasher=args.hasher)
    import django

    common.recreate_database()
    django.setup()
    common.migrate()
    common.clear_cache()
    user = common.create_user(login_users=args.login_users)
    use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and wrk_available())
    generator = (
        f"wrk -t{args.threads} -c{args.connections}"
        if use_wrk
        else (f"Python load generator, {args.connections} threads (wrk not found)")
    )
    started = time.perf_counter()
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="secureauth-bench-") as tmp:
        pools = {
            "secureauth": Path(tmp) / "secureauth.tokens",
            "simplejwt": Path(tmp) / "simplejwt.tokens",
        }
        mint_secureauth_pool(user, args.refresh_pool, pools["secureauth"])
        mint_simplejwt_pool(user, args.refresh_pool, pools["simplejwt"])
        from django.db import connections

        connections.close_all()
        print(
            f"minted 2 x {args.refresh_pool} refresh tokens in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        port = free_port()
        server = start_server(port, args)
        base = f"http://127.0.0.1:{port}"
        try:

            def load(scenario: Scenario, seconds: float) -> LoadResult:
                if use_wrk:
                    return run_wrk(
                        base,
                        scenario,
                        seconds=seconds,
                        connections=args.connections,
                        threads=args.threads,
                        ua=common.USER_AGENT,
                    )
                return run_python(
                    base,
                    scenario,
                    seconds=seconds,
                    connections=args.connections,
                    ua=common.USER_AGENT,
                )

            plan = scenarios(base, pools, args.login_users)
            for impl in IMPLS:  # every worker imports and connects before measuring
                load(plan[("get", impl)], args.warmup)
            results = {}
            for call in CALLS:
                results.update(measure_call(call, plan, load, args))
                print(
                    "  "
                    + ", ".join(
                        f"{call} {impl}: {results[(call, impl)].rps:.1f} req/s" for impl in IMPLS
                    ),
                    flush=True,
                )
        finally:
            stop_server(server)
    load_after = loadavg()
    header = (
        f"HTTP benchmark -- {common.describe_backends()}\n"
        f"gunicorn {args.workers} workers ({args.worker_class}, {args.worker_threads} threads), "
        f"{generator}, {args.duration:g} s per row in {args.rounds} interleaved slices\n"
        f"{os.cpu_count()} CPUs shared by server, database, cache and load generator; "
        f"load average {load_before} before, {load_after} after"
    )
    data = report(results, header)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(data, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
