"""Does ``magic-link/`` take as long for an unknown address as for a known one?

    .venv/bin/python -m bench.magic_link_timing [--http] [--postgres] [--redis] [-n 30]

Posts ``magic-link/`` ``n`` times for an address an account has and ``n`` times for
one no account has, interleaved in ABBA order (known, unknown, unknown, known, ...)
so that drift (caches warming, the machine's load) falls on both alike: in process
through Django's test client, or with ``--http`` over HTTP to a gunicorn worker
(what a caller measures). Mail goes out as in production, by the background thread
after the response (bench/magic_link_settings.py: written to files); the script
lets it finish between requests, outside the timed region. Prints the median of each
and how far apart they are (the aim: within 10%), and where the mail went. A
report, not a test: nothing is asserted about time.

``--postgres`` uses its own database (``secureauth_bench_magic_link``, dropped and
created again; ``DATABASE_URL`` overrides it), never the benchmark's or the tests'.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench import common

KNOWN = "known-address@example.com"
UNKNOWN = "unknown-address@example.com"
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/secureauth_bench_magic_link"
SQLITE_PATH = "/tmp/secureauth-bench-magic-link.sqlite3"
MAIL_DIR = "/tmp/secureauth-bench-magic-link-mail"
WARMUP = 10
#: Time the background thread gets to deliver a request's mail (--http).
MAIL_PAUSE = 0.05


def in_process() -> Callable[[str], float]:
    from django.test import Client

    from secureauth.mail import wait_for_background_mail

    client = Client()

    def post(email: str) -> float:
        start = time.perf_counter()
        response = client.post(
            "/auth/magic-link/",
            {"email": email},
            content_type="application/json",
            HTTP_USER_AGENT=common.USER_AGENT,
        )
        elapsed = time.perf_counter() - start
        assert response.status_code == 202, response.content
        wait_for_background_mail()
        return elapsed

    return post


def over_http(base: str) -> Callable[[str], float]:
    def post(email: str) -> float:
        request = urllib.request.Request(
            f"{base}/auth/magic-link/",
            data=json.dumps({"email": email}).encode(),
            headers={"Content-Type": "application/json", "User-Agent": common.USER_AGENT},
        )
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            status = response.status
        elapsed = time.perf_counter() - start
        assert status == 202, status
        time.sleep(MAIL_PAUSE)
        return elapsed

    return post


def recipients(mail_dir: Path) -> list[str]:
    """The ``To`` of every message the file backend wrote."""
    found = []
    for path in sorted(mail_dir.glob("*.log")):
        found += [line[4:].strip() for line in path.read_text().splitlines() if line[:4] == "To: "]
    return found


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--http", action="store_true", help="over HTTP to gunicorn")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--redis", action="store_true")
    parser.add_argument("-n", "--number", type=int, default=30, help="requests per address")
    args = parser.parse_args(argv)
    if args.postgres:
        os.environ.setdefault("DATABASE_URL", POSTGRES_URL)
    os.environ.setdefault("BENCH_SQLITE_PATH", SQLITE_PATH)
    os.environ.setdefault("BENCH_MAIL_DIR", MAIL_DIR)
    common.configure(postgres=args.postgres, redis=args.redis, hasher="md5")
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.magic_link_settings"
    import django

    common.recreate_database()
    django.setup()
    common.migrate()
    common.clear_cache()
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(username=KNOWN, email=KNOWN, password=None)
    mail_dir = Path(os.environ["BENCH_MAIL_DIR"])

    server = None
    if args.http:
        from bench import loadtest

        port = loadtest.free_port()
        server = loadtest.start_server(
            port, argparse.Namespace(workers=1, worker_class="sync", worker_threads=1)
        )
        post = over_http(f"http://127.0.0.1:{port}")
    else:
        post = in_process()
    try:
        for _ in range(WARMUP):
            post(KNOWN)
            post(UNKNOWN)
        time.sleep(MAIL_PAUSE)
        shutil.rmtree(mail_dir, ignore_errors=True)
        mail_dir.mkdir(parents=True)
        known: list[float] = []
        unknown: list[float] = []
        for i in range(args.number):
            order = [(KNOWN, known), (UNKNOWN, unknown)]
            if i % 2:
                order.reverse()
            for email, samples in order:
                samples.append(post(email) * 1000)
        time.sleep(MAIL_PAUSE)
    finally:
        if server is not None:
            from bench import loadtest

            loadtest.stop_server(server)

    sent = recipients(mail_dir)
    where = "over HTTP, gunicorn 1 sync worker" if args.http else "in process (test client)"
    print(f"magic-link/ timing, {args.number} interleaved requests per address, {where}")
    print(common.describe_backends() + f"; load average {os.getloadavg()[0]:.2f}")
    print(f"mails: {sent.count(KNOWN)} to the known address, {len(sent) - sent.count(KNOWN)} else")
    for label, samples in (("known", known), ("unknown", unknown)):
        quartiles = statistics.quantiles(samples, n=4)
        print(
            f"{label:>8}: median {statistics.median(samples):7.3f} ms"
            f"  (p25 {quartiles[0]:.3f}, p75 {quartiles[2]:.3f}, "
            f"min {min(samples):.3f}, max {max(samples):.3f})"
        )
    difference = (statistics.median(unknown) - statistics.median(known)) / statistics.median(known)
    verdict = "within" if abs(difference) <= 0.10 else "NOT within"
    print(f"unknown vs known: {difference * 100:+.1f}% ({verdict} 10%)")


if __name__ == "__main__":
    main()
