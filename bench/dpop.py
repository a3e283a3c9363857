"""In-process benchmark: the cost of DPoP on an authenticated request.

    .venv/bin/python bench/dpop.py [--redis] [--postgres] [-n 500] [--alg ES256]

One run signs the bench user in twice (a Bearer session and a DPoP-bound one) and
times the same requests with each, interleaved: GET of a bare authenticated view and
GET me/. Proofs are signed before the timing (that is the client's work); what is
timed is the server verifying the proof, its ``ath`` and ``htu``, and spending its
``jti`` in the cache. Each request's wall-clock time and the CPU time of the thread
that served it (``time.thread_time``: what a busy, shared machine distorts least) are
recorded. Queries are counted in a separate pass. It is a report: it always exits 0.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable, not its folder
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(_here.parent))

from bench import common  # noqa: E402

PATHS = {"get": "/api/secureauth/", "me": "/auth/me/"}
BASE = "http://testserver"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL (DATABASE_URL)")
    parser.add_argument("--redis", action="store_true", help="Redis cache (REDIS_URL)")
    parser.add_argument("-n", "--iterations", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument(
        "--alg", default="ES256", choices=("ES256", "EdDSA", "RS256", "PS256"), help="proof alg"
    )
    return parser.parse_args(argv)


def signer(alg: str):
    """(jkt, sign(method, url, access_token) -> proof) for a fresh client key."""
    import base64
    import hashlib
    import uuid

    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from jwt.algorithms import get_default_algorithms

    from secureauth.dpop import jwk_thumbprint

    if alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    elif alg == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = get_default_algorithms()[alg].to_jwk(key.public_key(), as_dict=True)

    def sign(method: str, url: str, access_token: str | None = None) -> str:
        claims = {"jti": uuid.uuid4().hex, "htm": method, "htu": url, "iat": int(time.time())}
        if access_token:
            digest = hashlib.sha256(access_token.encode()).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        return jwt.encode(claims, key, algorithm=alg, headers={"typ": "dpop+jwt", "jwk": jwk})

    return jwk_thumbprint(jwk), sign


def main(argv=None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("BENCH_SQLITE_PATH", "/tmp/secureauth-bench-dpop.sqlite3")
    if args.postgres:
        os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_dpop")
    common.configure(postgres=args.postgres, redis=args.redis, hasher="md5")
    import django

    common.recreate_database()
    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    common.migrate()
    common.create_user()
    client = Client()
    headers = {"HTTP_USER_AGENT": common.USER_AGENT}
    body = {"email": common.EMAIL, "password": common.PASSWORD}
    jkt, sign = signer(args.alg)

    def login(**extra) -> str:
        response = client.post(
            "/auth/login/", body, content_type="application/json", **headers, **extra
        )
        assert response.status_code == 200, response.content
        return response.json()["access_token"]

    bearer_token = login()
    dpop_token = login(HTTP_DPOP=sign("POST", BASE + "/auth/login/"))

    def bearer_request(path: str):
        return lambda: client.get(path, HTTP_AUTHORIZATION=f"Bearer {bearer_token}", **headers)

    def dpop_request(path: str):
        proof = sign("GET", BASE + path, dpop_token)  # signed before the clock starts
        return lambda: client.get(
            path, HTTP_AUTHORIZATION=f"DPoP {dpop_token}", HTTP_DPOP=proof, **headers
        )

    modes = {"bearer": bearer_request, "dpop": dpop_request}
    times: dict[tuple[str, str], list[float]] = {(c, m): [] for c in PATHS for m in modes}
    cpu: dict[tuple[str, str], list[float]] = {(c, m): [] for c in PATHS for m in modes}
    queries: dict[tuple[str, str], int] = {}
    for call, path in PATHS.items():
        for i in range(args.warmup + args.iterations):
            order = list(modes) if i % 2 else list(reversed(modes))
            for mode in order:
                request = modes[mode](path)
                start, start_cpu = time.perf_counter(), time.thread_time()
                response = request()
                elapsed = (time.perf_counter() - start) * 1000
                elapsed_cpu = (time.thread_time() - start_cpu) * 1000
                assert response.status_code == 200, response.content
                if i >= args.warmup:
                    times[(call, mode)].append(elapsed)
                    cpu[(call, mode)].append(elapsed_cpu)
        for mode in modes:
            request = modes[mode](path)
            with CaptureQueriesContext(connection) as captured:
                assert request().status_code == 200
            queries[(call, mode)] = len(captured.captured_queries)

    print(f"DPoP vs Bearer, in-process -- {common.describe_backends()}; proof alg {args.alg}")
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"iterations {args.iterations} (warm-up {args.warmup}); "
        f"CPUs {os.cpu_count()}; load average {load}\n"
    )
    head = f"{'call':<5} {'scheme':<7} {'median ms':>10} {'p90 ms':>9} {'CPU ms':>8} {'queries':>8}"
    print(head)
    print("-" * len(head))
    for call in PATHS:
        for mode in modes:
            values = sorted(times[(call, mode)])
            p90 = values[int(0.9 * (len(values) - 1))]
            print(
                f"{call:<5} {mode:<7} {statistics.median(values):>10.3f} {p90:>9.3f} "
                f"{statistics.median(cpu[(call, mode)]):>8.3f} {queries[(call, mode)]:>8}"
            )
    print("\nratio (DPoP median / Bearer median) and added cost, wall clock and CPU")
    for call in PATHS:
        dpop_ms = statistics.median(times[(call, "dpop")])
        bearer_ms = statistics.median(times[(call, "bearer")])
        dpop_cpu = statistics.median(cpu[(call, "dpop")])
        bearer_cpu = statistics.median(cpu[(call, "bearer")])
        print(
            f"  {call:<5} {dpop_ms / bearer_ms:.2f}x (+{dpop_ms - bearer_ms:.3f} ms); "
            f"CPU {dpop_cpu / bearer_cpu:.2f}x (+{dpop_cpu - bearer_cpu:.3f} ms)"
        )
    print(f"\n(get: {PATHS['get']}, a bare authenticated view; me: {PATHS['me']}; key {jkt})")


if __name__ == "__main__":
    main()
