"""The Django side of ``bench/scale.py``, run as its own process on one database
(``DATABASE_URL``): ``measure`` (per-call time of the two hot lookups, query plans)
and ``load`` (refreshes in threads until told to stop). Prints one JSON object.

    python -m bench.scale_worker measure SESSIONS
    python -m bench.scale_worker load STOP_FILE [THREADS]
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.scale_data import session_id, token_plaintext

CALLS = 2000
#: Seconds between two refreshes of one load thread (a paced load, not a saturating one).
PACE = 0.1


def _setup() -> None:
    common.configure(postgres=True, redis=False, hasher="md5")
    import django

    django.setup()


def _explain(sql: str, params: Any) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return [row[0] if len(row[0]) < 200 else row[0][:200] + " ..." for row in cursor.fetchall()]


def _plan_of(queryset: Any) -> list[str]:
    sql, params = queryset.query.sql_with_params()
    return _explain(sql, params)


def _per_call(call: Any, keys: list[Any]) -> dict[str, float]:
    for key in keys[:300]:  # warm-up
        call(key)
    times = []
    for key in keys:
        started = time.perf_counter()
        call(key)
        times.append(time.perf_counter() - started)
    return {
        "mean_us": statistics.fmean(times) * 1e6,
        "median_us": statistics.median(times) * 1e6,
    }


def measure(sessions: int) -> dict[str, Any]:
    """Random active sessions (kinds 0 and 1) and their current tokens, by the code paths
    the service runs: ``user_with_session_state`` and ``RefreshToken.objects.lookup``."""
    _setup()
    from secureauth.crypto import token_digest
    from secureauth.models import RefreshToken
    from secureauth.models.sessions import _users_with_session_state, user_with_session_state
    from secureauth.models.tokens import _lookup_queryset
    from secureauth.services import cleanup

    rng = random.Random(12)
    live = [k for k in (rng.randint(1, sessions) for _ in range(CALLS * 3)) if k % 5 < 2][:CALLS]
    session_keys = [str(session_id(k)) for k in live]
    digests = [token_digest(token_plaintext(sessions + k)) for k in live]
    assert user_with_session_state(session_keys[0]) is not None
    assert RefreshToken.objects.lookup(digests[0]) is not None

    from secureauth.models.batches import page_statement, page_with_children_statement

    cut = cleanup.cutoffs()
    tokens = cleanup.purgeable_refresh_tokens(cut)
    dead_sessions = cleanup.purgeable_sessions(cut)
    most_tokens = cleanup.TOKENS_PER_SESSION * 1000
    plans = {
        "session check": _plan_of(
            _users_with_session_state().filter(sa_session_id=session_keys[0])[:1]
        ),
        "refresh lookup": _plan_of(_lookup_queryset().filter(token_hash=digests[0])[:1]),
        # EXPLAIN without ANALYZE: the statements are planned, not run.
        "cleanup: a page of expired tokens, one statement": _explain(
            *page_statement(tokens, 0, 1000)
        ),
        "cleanup: a page of dead sessions with their tokens, one statement": _explain(
            *page_with_children_statement(
                dead_sessions, RefreshToken.objects.all(), "session", None, 1000, most_tokens
            )
        ),
        "dry run: tokens of dead sessions": _plan_of(
            RefreshToken.objects.of_sessions(dead_sessions.values("pk"))
            .still_kept(cut.tokens_and_sessions)
            .values("pk")
        ),
    }
    return {
        "session check": _per_call(lambda key: user_with_session_state(key), session_keys),
        "refresh lookup": _per_call(RefreshToken.objects.lookup, digests),
        "plans": plans,
    }


def load(stop_file: Path, threads: int) -> dict[str, Any]:
    """``threads`` threads refreshing their own fresh session in a loop, one more
    presenting the tokens of purged sessions (each must be refused with a 401), until
    ``stop_file`` exists. Errors: anything but a success (live) or a 401 (dead)."""
    _setup()
    from django.contrib.auth import get_user_model
    from django.db import connections

    from secureauth.client import ClientInfo
    from secureauth.exceptions import SecureAuthError
    from secureauth.services.rotation import rotate_refresh_token
    from secureauth.services.sessions import start_session

    client = ClientInfo(ip="127.0.0.1", user_agent=common.USER_AGENT)
    latencies: list[float] = []
    errors: list[str] = []
    refused = [0]
    lock = threading.Lock()
    ready = threading.Barrier(threads + 2)

    def live(index: int) -> None:
        user = get_user_model().objects.create_user(
            username=f"scale-load-{os.getpid()}-{index}", password=None
        )
        token = start_session(user, client, ["pwd"]).refresh_token
        ready.wait()
        while not stop_file.exists():
            started = time.perf_counter()
            try:
                token = rotate_refresh_token(token, client).refresh_token
            except Exception as exc:  # counted, reported by the main thread
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                return
            with lock:
                latencies.append(time.perf_counter() - started)
            time.sleep(PACE)

    def dead(sessions: int) -> None:
        rng = random.Random(7)
        ready.wait()
        while not stop_file.exists():
            k = rng.randint(1, sessions // 5) * 5 - rng.choice((2, 3))  # kinds 2, 3
            started = time.perf_counter()
            try:
                rotate_refresh_token(token_plaintext(sessions + k), client)
                outcome = "accepted a purged session's token"
            except SecureAuthError as exc:
                outcome = "" if exc.status_code == 401 else f"{exc.status_code} {exc.code}"
            except Exception as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            with lock:
                latencies.append(time.perf_counter() - started)
                if outcome:
                    errors.append(outcome)
                else:
                    refused[0] += 1
            time.sleep(PACE)

    def run(target: Any, *args: Any) -> threading.Thread:
        def body() -> None:
            try:
                target(*args)
            finally:
                connections.close_all()

        thread = threading.Thread(target=body)
        thread.start()
        return thread

    sessions = int(os.environ["SCALE_SESSIONS"])
    workers = [run(live, i) for i in range(threads)] + [run(dead, sessions)]
    ready.wait()
    started = time.monotonic()
    print("ready", flush=True, file=sys.stderr)
    for worker in workers:
        worker.join()
    ordered = sorted(latencies)
    return {
        "seconds": time.monotonic() - started,
        "requests": len(ordered),
        "refused_dead": refused[0],
        "errors": len(errors),
        "error_samples": errors[:5],
        "max_ms": ordered[-1] * 1000 if ordered else None,
        "p99_ms": ordered[int(len(ordered) * 0.99)] * 1000 if ordered else None,
        "over_1s": sum(1 for t in ordered if t > 1.0),
    }


def main(argv: list[str]) -> None:
    if argv[0] == "measure":
        result = measure(int(argv[1]))
    elif argv[0] == "load":
        result = load(Path(argv[1]), int(argv[2]) if len(argv) > 2 else 4)
    else:
        raise SystemExit(__doc__)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
