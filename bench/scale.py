"""SecureAuth at scale on PostgreSQL: lookups, storage and the cleanup at millions of rows.

    nice -n 10 python -m bench.scale [--fraction 1.0] [--batch-size 1000] [--keep]

Builds its own databases (``secureauth_scale`` and copies ``_plain``, ``_load``,
``_small``; base URL from ``SCALE_DATABASE_URL``, default
postgres://postgres@127.0.0.1:5432/secureauth_scale; only names containing "scale"
are ever dropped) with SQL (bench/scale_data.py), then reports:

- bytes per row of each table and index, on the schema before the storage migration
  and after it (the same data, migrated, then compacted by VACUUM FULL);
- per-call time of the session check and the refresh lookup at full size and on a
  database of 10,000 refresh tokens, the ratio, and the query plans;
- ``secureauth_cleanup --dry-run`` and ``secureauth_cleanup``: wall time, peak RSS
  (also on the small database: flat), rows deleted, UPDATEs it issued; the same purge
  in plain batched SQL on an identical copy, the ratio; the cleanup once more on a
  third copy under a refresh load (errors, slowest request).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from bench import scale_data
from bench.common import ROOT

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/secureauth_scale"
TABLES = ("secureauth_refreshtoken", "secureauth_session", "secureauth_auditevent", "auth_user")
MIGRATION = next((ROOT / "secureauth" / "migrations").glob("*_scale_storage.py"))
BEFORE = re.search(r'\("secureauth", "(\d{4}_\w+)"\)', MIGRATION.read_text()).group(1)  # type: ignore[union-attr]


def url_of(name: str) -> str:
    parts = urlsplit(os.environ.get("SCALE_DATABASE_URL", DEFAULT_URL))
    return urlunsplit(parts._replace(path="/" + name))


def base_name() -> str:
    return urlsplit(os.environ.get("SCALE_DATABASE_URL", DEFAULT_URL)).path.lstrip("/")


def admin() -> psycopg.Connection:
    return psycopg.connect(url_of("postgres"), autocommit=True)


def drop(name: str) -> None:
    assert "scale" in name, name
    with admin() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def create(name: str, template: str | None = None) -> None:
    drop(name)
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with admin() as conn:
        conn.execute(statement)


def env_for(name: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url_of(name),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "BENCH_HASHER": "md5",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def django(name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "django", *args],
        env=env_for(name),
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def worker(name: str, *args: str, sessions: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale_worker", *args],
        env=env_for(name, SCALE_SESSIONS=str(sessions)),
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def timed(call: Any, *args: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = call(*args)
    return result, time.monotonic() - started


def sizes(name: str) -> dict[str, Any]:
    """Rows, heap bytes and index bytes of each table, per row, and each index."""
    with psycopg.connect(url_of(name), autocommit=True) as conn:
        out = {}
        for table in TABLES:
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), pg_table_size({t}), pg_indexes_size({t}) FROM {i}"
                ).format(t=sql.Literal(table), i=sql.Identifier(table))
            ).fetchone()
            assert row is not None
            rows, heap, indexes = row
            listed = conn.execute(
                "SELECT indexname, pg_relation_size(quote_ident(indexname)::regclass), indexdef "
                "FROM pg_indexes WHERE tablename = %s ORDER BY indexname",
                [table],
            ).fetchall()
            out[table] = {
                "rows": rows,
                "heap_per_row": heap / max(rows, 1),
                "indexes_per_row": indexes / max(rows, 1),
                "indexes": {n: {"per_row": b / max(rows, 1), "def": d} for n, b, d in listed},
            }
        return out


def prepare(name: str, sizes_: scale_data.Sizes) -> dict[str, Any]:
    """The current schema and the data, VACUUM ANALYZE (as autovacuum would have)."""
    create(name)
    django(name, "migrate", "--verbosity", "0")
    with psycopg.connect(url_of(name)) as conn:
        _, build_s = timed(lambda: scale_data.build(conn, sizes_, hex_digests=False))
    with psycopg.connect(url_of(name), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return {"build_s": build_s, "sizes": sizes(name)}


def storage_change(name: str, sizes_: scale_data.Sizes) -> dict[str, Any]:
    """The schema before the storage migration, the data; VACUUM FULL of the token
    table, sizes; the migration (which rewrites that table); VACUUM FULL again, sizes."""
    create(name)
    django(name, "migrate", "--verbosity", "0")
    django(name, "migrate", "secureauth", BEFORE, "--verbosity", "0")
    with psycopg.connect(url_of(name)) as conn:
        scale_data.build(conn, sizes_, hex_digests=True)
    with psycopg.connect(url_of(name), autocommit=True) as conn:
        # Compact too, as the migrated table will be: the same footing for both.
        conn.execute("VACUUM FULL ANALYZE secureauth_refreshtoken")
        conn.execute("ANALYZE")
    before = sizes(name)
    _, migrate_s = timed(django, name, "migrate", "--verbosity", "0")
    with psycopg.connect(url_of(name), autocommit=True) as conn:
        # The data migration rewrote every token row (the other tables only lost
        # indexes): compact that table, for bytes per row without the migration's bloat.
        _, vacuum_s = timed(conn.execute, "VACUUM FULL ANALYZE secureauth_refreshtoken")
        conn.execute("ANALYZE")
    return {
        "rows": sizes_.__dict__,
        "migration_s": migrate_s,
        "vacuum_full_s": vacuum_s,
        "before": before,
        "after": sizes(name),
    }


def updates(name: str) -> dict[str, int]:
    with psycopg.connect(url_of(name), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT relname, n_tup_upd FROM pg_stat_user_tables WHERE relname = ANY(%s)",
            [list(TABLES)],
        ).fetchall()
    return dict(rows)


def command(name: str, *args: str) -> dict[str, Any]:
    """``secureauth_cleanup`` as its own process: wall time, peak RSS, what it printed."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "django", "secureauth_cleanup", *args],
            env=env_for(name),
            cwd=ROOT,
            stdout=out,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        out.seek(0)
        text = out.read()
    if proc.returncode:
        raise RuntimeError(f"secureauth_cleanup failed ({proc.returncode}): {text}")
    counts = {
        m[2]: int(m[1]) for m in re.finditer(r"(?:Deleted|Would delete) (\d+) ([A-Za-z ]+)\n", text)
    }
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "counts": counts}


def under_load(name: str, sessions: int, threads: int, batch: str) -> dict[str, Any]:
    stop = Path(tempfile.mkdtemp()) / "stop"
    load = subprocess.Popen(
        [sys.executable, "-m", "bench.scale_worker", "load", str(stop), str(threads)],
        env=env_for(name, SCALE_SESSIONS=str(sessions)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert load.stderr is not None and load.stdout is not None
    for line in load.stderr:
        if line.strip() == "ready":
            break
    else:
        raise RuntimeError("the refresh load did not start")
    try:
        result = command(name, "--batch-size", batch)
    finally:
        stop.touch()
        output, _ = load.communicate(timeout=120)
    result["load"] = json.loads(output.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, default=1.0, help="of the full sizes")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4, help="refresh threads of the load")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--rounds", type=int, default=2, help="of lookup measurements")
    parser.add_argument("--storage-only", action="store_true", help="only the storage step")
    parser.add_argument(
        "--storage-fraction",
        type=float,
        default=0.1,
        help="of the full sizes, for bytes per row before/after the storage migration",
    )
    parser.add_argument("--json", type=Path, default=Path("/tmp/secureauth-scale.json"))
    args = parser.parse_args(argv)
    name = base_name()
    full, small = scale_data.Sizes.scaled(args.fraction), scale_data.Sizes.with_tokens(10_000)
    names = {kind: f"{name}_{kind}" for kind in ("plain", "load", "small", "storage")}
    batch = str(args.batch_size)
    results: dict[str, Any] = {"sizes": full.__dict__, "batch_size": args.batch_size}
    if args.storage_only:
        try:
            results["storage"] = storage_change(
                names["storage"], scale_data.Sizes.scaled(args.storage_fraction)
            )
        finally:
            args.json.write_text(json.dumps(results, indent=2, default=str))
            if not args.keep:
                drop(names["storage"])
        return
    try:
        log(f"building {full} ...")
        results["full"] = prepare(name, full)
        results["small"] = prepare(names["small"], small)
        log(f"measuring lookups ({args.rounds} rounds of full, small) ...")
        for db, sizes_ in ((name, full), (names["small"], small)) * args.rounds:
            key = "lookups_full" if db == name else "lookups_small"
            measured = worker(db, "measure", str(sizes_.sessions), sessions=sizes_.sessions)
            results.setdefault(key, measured)
            for lookup in ("session check", "refresh lookup"):  # the better of two rounds
                if measured[lookup]["median_us"] < results[key][lookup]["median_us"]:
                    results[key][lookup] = measured[lookup]
        results["cleanup_small"] = command(names["small"], "--batch-size", batch)
        log("copying ...")
        create(names["plain"], template=name)
        create(names["load"], template=name)
        log("dry run ...")
        counted, dry_s = timed(django, name, "secureauth_cleanup", "--dry-run")
        results["dry_run"] = {"wall_s": dry_s, "output": counted}
        log("cleanup alone ...")
        updates_before = updates(name)
        results["cleanup"] = command(name, "--batch-size", batch)
        results["cleanup"]["updates"] = {
            t: n - updates_before.get(t, 0) for t, n in updates(name).items()
        }
        results["cleanup"]["sizes_after"] = sizes(name)
        log("plain SQL ...")
        now = datetime.now(UTC)
        with psycopg.connect(url_of(names["plain"])) as conn:
            deleted, plain_s = timed(
                scale_data.plain_purge,
                conn,
                now - timedelta(days=30),
                now - timedelta(days=365),
                args.batch_size,
            )
        results["plain_sql"] = {"wall_s": plain_s, "counts": deleted}
        drop(names["plain"])
        log("cleanup under load ...")
        results["cleanup_under_load"] = under_load(
            names["load"], full.sessions, args.threads, batch
        )
        drop(names["load"])
        log(f"storage before/after the migration, {args.storage_fraction} of the sizes ...")
        results["storage"] = storage_change(
            names["storage"], scale_data.Sizes.scaled(args.storage_fraction)
        )
    finally:
        args.json.write_text(json.dumps(results, indent=2, default=str))
        if not args.keep:
            for db in (name, *names.values()):
                drop(db)
    log(f"results in {args.json}")


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
