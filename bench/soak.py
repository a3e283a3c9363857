"""Soak benchmark: the example service under a mixed workload for minutes, in numbers.

    nice -n 10 .venv/bin/python -m bench.soak --minutes 3 [--workers 2] [--users 8]

Not a test: it reports what a leak or an error under load would show. It creates its
own PostgreSQL database (``secureauth_soak`` on the server of ``--postgres``, dropped
at the end unless ``--keep-database``) and uses its own Redis key prefix (its keys are
deleted at the end), migrates, creates ``--users`` staff accounts, runs gunicorn with
``example_project/gunicorn.conf.py`` (``--workers`` sync workers, never recycled: a
leak must show in their memory), and a load generator in another process
(bench/soak_load.py): each virtual person signs in, uses the session (me, sessions
list, the example host view, refreshes, health), signs out, and now and then types a
wrong password.

Reported: requests, req/s, p50/p95/p99 per operation, statuses, 5xx and connection
errors, each worker's RSS after the warm-up, every minute and at the end, and the
growth of every table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.common import ROOT
from bench.loadtest import free_port, loadavg
from bench.soak_load import OPERATIONS, USER_EMAIL

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/secureauth_soak"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def service_env(args: argparse.Namespace, port: int, var: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "PYTHONPATH": str(ROOT),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECUREAUTH_SIGNING_KEY": secrets.token_urlsafe(50),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": args.postgres,
        "REDIS_URL": args.redis,
        "CACHE_KEY_PREFIX": args.key_prefix,
        # The load generator is "the proxy": each person's X-Forwarded-For is its address.
        "SECUREAUTH_NUM_PROXIES": "1",
        "SECUREAUTH_VAR_DIR": str(var),
        "STATIC_ROOT": str(var / "static"),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(args.workers),
        "GUNICORN_MAX_REQUESTS": "0",  # no recycling: memory growth must show
        "GUNICORN_ACCESSLOG": os.devnull,
        "GUNICORN_LOG_LEVEL": "warning",
        "SECUREAUTH_LOG_LEVEL": "WARNING",
    }


def recreate_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "soak" not in name:
        raise SystemExit(f"refusing to drop {name!r}: the soak database's name contains 'soak'")
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        name = sql.Identifier(parts.path.lstrip("/"))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def prepare(users: int, password: str) -> None:
    """Migrate and create the staff accounts (Django set up on the service's settings)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    staff, _ = Group.objects.get_or_create(name="staff")
    for i in range(users):
        email = USER_EMAIL.format(i=i)
        user = get_user_model().objects.create_user(username=email, email=email, password=password)
        user.groups.add(staff)


def row_counts() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        counts = {}
        for table in sorted(connection.introspection.table_names(cursor)):
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')  # names from the catalog
            counts[table] = cursor.fetchone()[0]
    connection.close()
    return counts


def delete_cache_keys() -> None:
    from django.core.cache import cache

    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")  # under this run's KEY_PREFIX only


def workers_of(master: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if f"\nPPid:\t{master}\n" in status:
                pids.append(int(entry.name))
    return sorted(pids)


def _vm_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def rss_mib(pid: int, *, samples: int = 20, every: float = 0.1) -> float | None:
    """The worker's resident memory between requests: the least of ``samples`` readings
    (a sign-in's Argon2 hash holds ~100 MiB for a moment, then gives it back)."""
    readings = []
    for _ in range(samples):
        value = _vm_rss_mib(pid)
        if value is not None:
            readings.append(value)
        time.sleep(every)
    return min(readings) if readings else None


def start_service(env: dict[str, str], base: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gunicorn", "-c", "example_project/gunicorn.conf.py"]
    server = subprocess.Popen([*command, "example_project.wsgi:application"], cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/health/", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise SystemExit("the service did not start") from None
        time.sleep(0.3)


def percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summarize(load: dict) -> tuple[list[dict], int, int, int]:
    rows, total, server_errors, failed = [], 0, 0, 0
    for operation in OPERATIONS:
        values = sorted(load["latencies"].get(operation, []))
        statuses = load["statuses"].get(operation, {})
        total += len(values)
        server_errors += sum(n for status, n in statuses.items() if status.startswith("5"))
        failed += sum(n for status, n in statuses.items() if not status.isdigit())
        rows.append(
            {
                "operation": operation,
                "requests": len(values),
                "rps": len(values) / load["seconds"],
                "p50": percentile(values, 0.50),
                "p95": percentile(values, 0.95),
                "p99": percentile(values, 0.99),
                "statuses": dict(sorted(statuses.items())),
            }
        )
    return rows, total, server_errors, failed


def report(args, load, rss, rows_before, rows_after, header: str) -> dict:
    operations, total, server_errors, failed = summarize(load)
    seconds = load["seconds"]
    print(header)
    print(f"requests: {total} in {seconds:.0f} s = {total / seconds:.1f} req/s; "
          f"5xx: {server_errors}; connection errors: {failed}")  # fmt: skip
    print(f"{'operation':<14}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
          "  statuses")  # fmt: skip
    for row in operations:
        statuses = " ".join(f"{status}:{n}" for status, n in row["statuses"].items())
        print(f"{row['operation']:<14}{row['requests']:>9}{row['rps']:>8.1f}{row['p50']:>9.1f}"
              f"{row['p95']:>9.1f}{row['p99']:>9.1f}  {statuses}")  # fmt: skip
    print("worker RSS (MiB, least of 20 readings over 2 s), after the warm-up, every minute, "
          "at the end:")  # fmt: skip
    for pid, samples in rss.items():
        shown = " -> ".join(f"{value:.1f}" for value in samples if value is not None)
        first, last = samples[0], samples[-1]
        growth = f" ({last - first:+.1f})" if first is not None and last is not None else ""
        print(f"  worker {pid}: {shown}{growth}")
    print("rows (before -> after, growth per 1000 requests):")
    growth = {}
    for table, after in rows_after.items():
        before = rows_before.get(table, 0)
        if after != before:
            growth[table] = after - before
            per_k = 1000 * (after - before) / max(total, 1)
            print(f"  {table:<40} {before:>7} -> {after:>7}  {per_k:>7.1f}")
    return {
        "seconds": seconds,
        "requests": total,
        "rps": total / seconds,
        "server_errors": server_errors,
        "connection_errors": failed,
        "operations": operations,
        "rss_mib": {str(pid): samples for pid, samples in rss.items()},
        "row_growth": growth,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=8, help="virtual people, one thread each")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds before RSS 'start'")
    parser.add_argument("--postgres", default=os.environ.get("SOAK_DATABASE_URL", DEFAULT_POSTGRES))
    parser.add_argument("--redis", default=os.environ.get("SOAK_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--key-prefix", default=f"secureauth-soak-{os.getpid()}")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    var = Path(tempfile.mkdtemp(prefix="secureauth-soak-"))
    (var / "static").mkdir()
    env = service_env(args, port, var)
    os.environ.update(env)
    password = secrets.token_urlsafe(16)
    recreate_database(args.postgres)
    import django

    django.setup()
    try:
        prepare(args.users, password)
        rows_before = row_counts()
        server = start_service(env, base)
        try:
            numbers = soak(args, base, server, password, rows_before)
        finally:
            server.terminate()
            server.wait(timeout=60)
        if args.json:
            args.json.write_text(json.dumps(numbers, indent=2))
    finally:
        shutil.rmtree(var, ignore_errors=True)
        delete_cache_keys()
        if not args.keep_database:
            from django.db import connection

            connection.close()
            drop_database(args.postgres)


def soak(args, base: str, server: subprocess.Popen[bytes], password: str, rows_before) -> dict:
    seconds = args.minutes * 60
    result = Path(tempfile.mkstemp(prefix="secureauth-soak-", suffix=".json")[1])
    command = [sys.executable, "-m", "bench.soak_load", base, str(result)]
    command += ["--seconds", str(seconds), "--users", str(args.users), "--password", password]
    load_generator = subprocess.Popen(command, cwd=ROOT)
    started = time.monotonic()
    time.sleep(min(args.warmup, seconds / 4))
    workers = workers_of(server.pid)
    rss: dict[int, list[float | None]] = {pid: [rss_mib(pid)] for pid in workers}
    next_sample = time.monotonic() + 60
    while load_generator.poll() is None:
        time.sleep(1)
        if time.monotonic() >= next_sample and load_generator.poll() is None:
            for pid in workers:
                rss[pid].append(rss_mib(pid))
            next_sample += 60
    for pid in workers:
        rss[pid].append(rss_mib(pid))
    replaced = sorted(set(workers_of(server.pid)) - set(workers))
    if load_generator.returncode != 0:
        raise SystemExit("the load generator failed")
    load = json.loads(result.read_text())
    result.unlink()
    header = (
        f"soak: {args.minutes:g} min, gunicorn {len(workers)} sync workers, "
        f"{args.users} virtual people; PostgreSQL {urlsplit(args.postgres).path.lstrip('/')} "
        f"+ Redis; load average at the end {loadavg()}; ran {time.monotonic() - started:.0f} s"
    )
    if replaced:
        header += f"; WORKERS REPLACED DURING THE RUN: {replaced}"
    return report(args, load, rss, rows_before, row_counts(), header)


if __name__ == "__main__":
    main()
