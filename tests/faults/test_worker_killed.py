"""A gunicorn worker killed (SIGKILL) in the middle of a refresh.

A rotation is one transaction: killed before it commits, PostgreSQL rolls it back and
the presented token is still the family's live one; killed after, the client's retry
with the same token falls in the grace window and gets the same child. Either way a
family always has exactly one live token, every retired token exactly one child, and
the client is never taken for a thief.
"""

from __future__ import annotations

import hashlib
import http.client
import itertools
import os
import random
import signal
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .conftest import USERS, Answer, Client, hold_file, query, service

pytestmark = [pytest.mark.faults, pytest.mark.servers]


def family(database, refresh_token: str) -> list[tuple[int, int | None, bool]]:
    """(id, parent id, live) of every token of the session ``refresh_token`` belongs to."""
    digest = hashlib.sha256(refresh_token.encode()).digest()
    return query(
        database,
        "SELECT id, parent_id, rotated_at IS NULL FROM secureauth_refreshtoken"
        " WHERE session_id = (SELECT session_id FROM secureauth_refreshtoken"
        " WHERE token_hash = %s) ORDER BY id",
        digest,
    )


def assert_whole(tokens: list[tuple[int, int | None, bool]]) -> None:
    """One live token; every retired one has exactly one child; a single chain."""
    assert [live for _, _, live in tokens].count(True) == 1, tokens
    parents = [parent for _, parent, _ in tokens if parent is not None]
    assert len(parents) == len(set(parents)) == len(tokens) - 1, tokens
    retired = {pk for pk, _, live in tokens if not live}
    assert set(parents) == retired, tokens


def session_revoked(database, refresh_token: str) -> bool:
    digest = hashlib.sha256(refresh_token.encode()).digest()
    rows = query(
        database,
        "SELECT s.revoked_at IS NOT NULL FROM secureauth_session s"
        " JOIN secureauth_refreshtoken t ON t.session_id = s.id WHERE t.token_hash = %s",
        digest,
    )
    return rows[0][0]


def wait_for_pid(marker: Path, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while not marker.read_text():
        assert time.monotonic() < deadline, "no worker reached the checkpoint"
        time.sleep(0.05)
    return int(marker.read_text())


def test_a_worker_killed_inside_the_rotation_rolls_it_back(database, redis):
    marker = hold_file()
    extra = {"FAULTS_HOLD_AT": "refresh.claimed", "FAULTS_HOLD_FILE": str(marker)}
    with service(database, redis, workers=2, **extra) as base:
        client = Client(base)
        token = client.login(USERS[8]).body["refresh_token"]
        outcome: list[object] = []

        def refresh_in_background() -> None:
            try:
                outcome.append(client.refresh(token))
            except OSError as error:  # the connection dies with the worker
                outcome.append(error)

        thread = threading.Thread(target=refresh_in_background)
        thread.start()
        os.kill(wait_for_pid(marker), signal.SIGKILL)
        thread.join(timeout=30)
        assert outcome and isinstance(outcome[0], (OSError, http.client.HTTPException)), outcome

        tokens = family(database, token)
        assert len(tokens) == 1 and tokens[0][2], tokens  # the claim was rolled back
        rotated = client.refresh(token)  # the worker was replaced; the same token works
        assert rotated.status == 200, rotated.body
        tokens = family(database, token)
        assert len(tokens) == 2
        assert_whole(tokens)
    marker.unlink()


def gunicorn_workers(base: str) -> list[int]:
    """The pids of the workers of the gunicorn serving ``base`` (children of its master)."""
    bind = f"127.0.0.1:{urlsplit(base).port}"
    processes: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if bind.encode() in cmdline:
            ppid = next(line for line in status.splitlines() if line.startswith("PPid:"))
            processes[int(entry.name)] = int(ppid.split()[1])
    masters = {pid for pid, parent in processes.items() if parent == os.getpid()}
    return [pid for pid, parent in processes.items() if parent in masters]


def test_workers_killed_at_random_during_refreshes_never_break_a_family(database, redis):
    addresses = (f"10.9.{i // 250}.{i % 250 + 1}" for i in itertools.count())
    lock = threading.Lock()

    def next_address() -> str:
        with lock:  # a fresh address per request: the per-IP refresh limit stays out of it
            return next(addresses)

    with service(database, redis, workers=2, SECUREAUTH_NUM_PROXIES="1") as base:
        clients = [Client(base) for _ in range(4)]
        tokens = [c.login(USERS[9], X_Forwarded_For=next_address()).body for c in clients]
        latest = [t["refresh_token"] for t in tokens]
        stop = threading.Event()
        failures: list[object] = []
        counts = [0] * len(clients)

        def refresh_forever(index: int) -> None:
            while not stop.is_set():
                answer: Answer | None = None
                first_try = time.monotonic()
                for _ in range(50):  # retry the same token until a worker answers
                    try:
                        answer = clients[index].refresh(
                            latest[index], timeout=10, X_Forwarded_For=next_address()
                        )
                        break
                    except (OSError, http.client.HTTPException):
                        time.sleep(0.1)
                if answer is None or answer.status != 200:
                    waited = time.monotonic() - first_try
                    failures.append((index, waited, answer and (answer.status, answer.body)))
                    return
                latest[index] = answer.body["refresh_token"]
                counts[index] += 1

        threads = [threading.Thread(target=refresh_forever, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        killed, deadline = 0, time.monotonic() + 90
        try:
            while killed < 5 and time.monotonic() < deadline and not failures:
                time.sleep(random.uniform(0.3, 0.9))
                workers = gunicorn_workers(base)
                if workers:
                    os.kill(random.choice(workers), signal.SIGKILL)
                    killed += 1
        finally:
            time.sleep(1)
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        assert not failures, failures
        assert killed == 5 and all(counts), (killed, counts)
        for token in latest:
            assert not session_revoked(database, token)
            assert_whole(family(database, token))
            live = [pk for pk, _, is_live in family(database, token) if is_live]
            mine = query(
                database,
                "SELECT id FROM secureauth_refreshtoken WHERE token_hash = %s",
                hashlib.sha256(token.encode()).digest(),
            )
            assert mine == [(live[0],)]  # the client holds the live token
