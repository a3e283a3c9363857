"""The soak benchmark's load generator (bench/soak.py starts it as its own process).

    python -m bench.soak_load BASE_URL RESULT_FILE --seconds S --users N --password P

Each of ``--users`` threads is one person with an account (``soak-user-<i>``, staff
role) and an address of its own (``X-Forwarded-For``, the service trusts one proxy):
it signs in, uses the session (me, sessions list, the host view, refreshes), signs
out, and now and then mistypes a password for an address that has no account, from
an address of its own: per person, per address, nobody is ever rate limited, so
every answer but the expected 401 of a wrong password is a finding. Writes the
latencies per operation and the counts of statuses and errors as JSON.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import random
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlsplit

USER_EMAIL = "soak-user-{i}@example.com"
#: What one signed-in visit does besides signing in and out: (operation, weight).
VISIT = [("me", 6), ("host_view", 3), ("refresh", 3), ("sessions", 2), ("health", 1)]
OPERATIONS = ["login", *[name for name, _ in VISIT], "logout", "failed_login"]
#: Operations per visit, and the share of visits that end with a mistyped password.
VISIT_LENGTH = 12
FAILED_LOGIN_SHARE = 0.5
USER_AGENT = "secureauth-soak/1 (Linux; Chrome 126)"


class Recorder:
    """Latencies (ms) and statuses per operation, from every thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter[str]] = defaultdict(Counter)

    def record(self, operation: str, status: str, milliseconds: float) -> None:
        with self.lock:
            self.latencies[operation].append(milliseconds)
            self.statuses[operation][status] += 1


class Person:
    """One account, one keep-alive connection, one address."""

    _failed_addresses = itertools.count()

    def __init__(self, base: str, index: int, password: str, recorder: Recorder) -> None:
        parts = urlsplit(base)
        if parts.hostname not in ("127.0.0.1", "localhost"):
            raise SystemExit("the soak load generator only targets this machine")
        self.host, self.port = parts.hostname, parts.port
        self.email = USER_EMAIL.format(i=index)
        self.password = password
        self.address = f"10.{64 + index // 250}.{index % 250}.1"
        self.recorder = recorder
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        self.access: str | None = None
        self.refresh_token: str | None = None

    def call(
        self, operation: str, method: str, path: str, body: dict | None = None, **extra: str
    ) -> tuple[int, dict | None]:
        headers = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "X-Forwarded-For": extra.pop("address", self.address),
        }
        if self.access and operation not in ("login", "failed_login", "refresh", "health"):
            headers["Authorization"] = f"Bearer {self.access}"
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
            raw = response.read()
            status = response.status
            if (response.getheader("Connection") or "").lower() == "close":
                self.connection.close()
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()
            self.recorder.record(operation, type(error).__name__, _ms(started))
            return 0, None
        self.recorder.record(operation, str(status), _ms(started))
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        return status, data if isinstance(data, dict) else None

    def visit(self) -> None:
        status, data = self.call(
            "login", "POST", "/auth/login/", {"email": self.email, "password": self.password}
        )
        if status != 200 or data is None:
            time.sleep(0.5)
            return
        self.access, self.refresh_token = data["access_token"], data["refresh_token"]
        names = [name for name, _ in VISIT]
        weights = [weight for _, weight in VISIT]
        for operation in random.choices(names, weights, k=VISIT_LENGTH):
            self.use(operation)
        self.call("logout", "POST", "/auth/logout/", {"refresh_token": self.refresh_token})
        self.access = self.refresh_token = None
        if random.random() < FAILED_LOGIN_SHARE:
            n = next(self._failed_addresses)
            self.call(
                "failed_login",
                "POST",
                "/auth/login/",
                {"email": f"nobody-{n}@example.com", "password": "not the password"},
                address=f"10.{128 + n // 62500 % 64}.{n // 250 % 250}.{n % 250 + 1}",
            )

    def use(self, operation: str) -> None:
        if operation == "me":
            self.call("me", "GET", "/auth/me/")
        elif operation == "host_view":
            self.call("host_view", "GET", "/api/example/")
        elif operation == "sessions":
            self.call("sessions", "GET", "/auth/sessions/")
        elif operation == "health":
            self.call("health", "GET", "/health/")
        elif operation == "refresh":
            status, data = self.call(
                "refresh", "POST", "/auth/refresh/", {"refresh_token": self.refresh_token}
            )
            if status == 200 and data is not None:
                self.access, self.refresh_token = data["access_token"], data["refresh_token"]


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def run(base: str, *, seconds: float, users: int, password: str) -> dict:
    recorder = Recorder()
    deadline = time.monotonic() + seconds

    def live(index: int) -> None:
        person = Person(base, index, password, recorder)
        while time.monotonic() < deadline:
            person.visit()

    started = time.monotonic()
    threads = [threading.Thread(target=live, args=(i,), daemon=True) for i in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "seconds": time.monotonic() - started,
        "latencies": dict(recorder.latencies),
        "statuses": {op: dict(counts) for op, counts in recorder.statuses.items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base")
    parser.add_argument("result", type=Path)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args(argv)
    result = run(args.base, seconds=args.seconds, users=args.users, password=args.password)
    args.result.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
