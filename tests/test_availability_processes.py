"""Correct users are never locked out: not by a database outage, not by concurrency.

Real gunicorn processes on PostgreSQL + Redis. The outage is real too: the servers
reach PostgreSQL through a TCP relay that the test cuts (every connection refused)
and restores, as a restarting or failing-over database would.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from tests.conftest import PASSWORD, postgres_only
from tests.servers import free_port, running_server

pytestmark = [
    pytest.mark.servers,
    postgres_only,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (shared cache)"),
]


class Relay:
    """A TCP relay to PostgreSQL that can be cut (``down()``) and restored (``up()``)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._server: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def up(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def down(self) -> None:
        """Refuse new connections and break every open one."""
        server, self._server = self._server, None
        if server is not None:
            try:
                server.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked on it
            except OSError:
                pass
            server.close()
        with self._lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._open.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.close()
                except OSError:
                    pass


def login(base: str, email: str, password: str) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        base + "/auth/login/",
        data=json.dumps({"email": email, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def relayed_database_url(port: int) -> str:
    cfg = connection.settings_dict
    return f"postgres://{cfg.get('USER') or 'postgres'}@127.0.0.1:{port}/{cfg['NAME']}"


@pytest.fixture
def shared_env():
    return {
        "REDIS_URL": os.environ["REDIS_URL"],
        "TEST_CACHE_KEY_PREFIX": f"sa-test-availability-{uuid.uuid4().hex}",
    }


def test_a_database_outage_never_locks_anyone_out(transactional_db, make_user, shared_env):
    user = make_user("outage@example.com")
    cfg = connection.settings_dict
    relay = Relay((cfg.get("HOST") or "127.0.0.1", int(cfg.get("PORT") or 5432)))
    relay.up()
    env = {**shared_env, "DATABASE_URL": relayed_database_url(relay.port)}
    try:
        with running_server(env) as first, running_server(env) as second:
            assert login(first, user.email, PASSWORD)[0] == 200
            relay.down()
            # Well past the allowance: every attempt during the outage is a 503.
            for base in (first, second) * 10:
                status, headers, body = login(base, user.email, PASSWORD)
                assert (status, body.get("code")) == (503, "service_unavailable"), body
            relay.up()
            # The outage counted nothing: the right password gets in at once, everywhere.
            for base in (first, second):
                status, _, body = login(base, user.email, PASSWORD)
                assert status == 200, body
    finally:
        relay.down()


def test_an_office_behind_one_address_is_never_locked_out(transactional_db, make_user, shared_env):
    """Twenty people behind one NAT sign in at once, through two workers: some are asked
    to retry in a second (Retry-After: 1), none is locked, and after one retry all are in."""
    users = [make_user(f"office{i}@example.com") for i in range(20)]
    with running_server(shared_env) as first, running_server(shared_env) as second:
        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(
                pool.map(
                    lambda pair: (pair[1], login(pair[0], pair[1].email, PASSWORD)),
                    [((first, second)[i % 2], u) for i, u in enumerate(users)],
                )
            )
        refused = [(u, headers) for u, (status, headers, _) in answers if status != 200]
        assert {status for _, (status, _, _) in answers} <= {200, 429}
        assert all(headers["Retry-After"] == "1" for _, headers in refused)
        for u, _ in refused:
            status, _, body = login(first, u.email, PASSWORD)
            assert status == 200, body
