"""Where a login's time goes, SecureAuth beside simplejwt: database, cache, the rest.

    .venv/bin/python -m bench.login_split [--postgres] [--redis] [-n 300]

Signs the bench user in through the real URL routes (Django's test Client), the two
implementations interleaved, with the MD5 hasher so the password hash drops out
(what remains is the login *beyond* the hash). Each login's time is split into:

- **database**: the time the driver spent executing each statement (round trip and
  the server's work, no ORM), plus the commits, counted and timed where Django
  hands them to the driver;
- **cache**: the time spent in each call of the rate-limit cache (one round trip
  each with Redis), counted and timed at the cache object;
- **the rest**: Python (routing, DRF, the ORM building statements, JWT signing...).

The database and cache time of a SecureAuth login is what its statements and round
trips cost even with no Python around them: when that alone is above 1.3 times
simplejwt's whole login beyond the hash, no change to Python code can reach the
target; only fewer round trips can. A diagnostic, not a target check.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import common

CACHE_CALLS = (
    "get",
    "get_many",
    "set",
    "add",
    "incr",
    "decr",
    "touch",
    "delete",
    "delete_many",
    "set_many",
)


@dataclass
class Split:
    total: list[float] = field(default_factory=list)
    db: list[float] = field(default_factory=list)
    cache: list[float] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)
    commits: list[int] = field(default_factory=list)
    cache_calls: list[int] = field(default_factory=list)


class Meter:
    """Adds up driver and cache time while ``on``."""

    def __init__(self) -> None:
        self.db = self.cache = 0.0
        self.statements = self.commits = self.cache_calls = 0

    def reset(self) -> None:
        self.__init__()

    def statement(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.db += time.perf_counter() - start
            self.statements += 1

    def wrap_commit(self, connection) -> None:
        inner = connection._commit

        def commit():
            start = time.perf_counter()
            try:
                return inner()
            finally:
                self.db += time.perf_counter() - start
                self.commits += 1

        connection._commit = commit

    def wrap_cache(self, cache) -> None:
        for name in CACHE_CALLS:
            inner = getattr(cache, name)

            def timed(*args, _inner=inner, **kwargs):
                start = time.perf_counter()
                try:
                    return _inner(*args, **kwargs)
                finally:
                    self.cache += time.perf_counter() - start
                    self.cache_calls += 1

            setattr(cache, name, timed)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--redis", action="store_true")
    parser.add_argument("-n", "--iterations", type=int, default=300)
    args = parser.parse_args(argv)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    common.configure(postgres=args.postgres, redis=args.redis, hasher="md5")
    import django

    common.recreate_database()
    django.setup()
    from django.db import connection
    from django.test import Client

    from secureauth.throttling import _cache

    common.migrate()
    common.clear_cache()
    common.create_user()
    print(f"login split -- {common.describe_backends()}; load average {load}", flush=True)

    client = Client()
    headers = {"HTTP_USER_AGENT": common.USER_AGENT}

    def post(path: str, body: dict[str, Any]) -> Callable[[], None]:
        def call() -> None:
            response = client.post(path, body, content_type="application/json", **headers)
            assert response.status_code == 200, response.content[:300]

        return call

    logins = {
        "secureauth": post("/auth/login/", {"email": common.EMAIL, "password": common.PASSWORD}),
        "simplejwt": post("/jwt/login/", {"username": common.EMAIL, "password": common.PASSWORD}),
    }
    meter = Meter()
    meter.wrap_commit(connection)
    meter.wrap_cache(_cache())
    splits = {name: Split() for name in logins}
    with connection.execute_wrapper(meter.statement):
        for index in range(30 + args.iterations):
            order = list(logins.items())
            if index % 2:
                order.reverse()
            for name, call in order:
                meter.reset()
                start = time.perf_counter()
                call()
                elapsed = time.perf_counter() - start
                if index < 30:  # warm-up
                    continue
                split = splits[name]
                split.total.append(elapsed * 1e3)
                split.db.append(meter.db * 1e3)
                split.cache.append(meter.cache * 1e3)
                split.statements.append(meter.statements)
                split.commits.append(meter.commits)
                split.cache_calls.append(meter.cache_calls)

    med = statistics.median
    print(f"\n{args.iterations} logins each, medians in ms (MD5 hasher: the hash is ~0)\n")
    print(
        "| implementation | login | database | statements + commits | cache | cache calls "
        "| the rest |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, split in splits.items():
        rest = [t - d - c for t, d, c in zip(split.total, split.db, split.cache, strict=True)]
        print(
            f"| {name} | {med(split.total):.3f} | {med(split.db):.3f} "
            f"| {med(split.statements):.0f} + {med(split.commits):.0f} | {med(split.cache):.3f} "
            f"| {med(split.cache_calls):.0f} | {med(rest):.3f} |"
        )
    sa, jw = splits["secureauth"], splits["simplejwt"]
    floor = med([d + c for d, c in zip(sa.db, sa.cache, strict=True)])
    target = 1.3 * med(jw.total)
    print(
        f"\nratio of the logins: {med(sa.total) / med(jw.total):.3f}; "
        f"SecureAuth's database + cache time alone: {floor:.3f} ms, "
        f"1.3x simplejwt's whole login: {target:.3f} ms "
        f"({'above' if floor > target else 'below'} it)"
    )


if __name__ == "__main__":
    main()
