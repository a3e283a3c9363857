"""Load generators for bench/loadtest.py: wrk (preferred) or a threaded Python client.

Both only ever target 127.0.0.1, run for a bounded duration and stop by themselves.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk.lua"


@dataclass
class Scenario:
    """One measured endpoint: a fixed request, or one fresh refresh token per request."""

    method: str
    path: str
    body: dict | None = None
    auth: str | None = None
    token_file: Path | None = None
    token_field: str = "refresh_token"
    #: > 0: request k uses i = k % variants: "{i}" in the body, X-Forwarded-For 198.51.100.<i+1>
    variants: int = 0


@dataclass
class LoadResult:
    requests: int
    seconds: float
    non2xx: int
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _check_local(base_url: str) -> None:
    if urlsplit(base_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the load generator only targets this machine (127.0.0.1)")


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    base_url: str, scenario: Scenario, *, seconds: float, connections: int, threads: int, ua: str
) -> LoadResult:
    _check_local(base_url)
    env = {
        **os.environ,
        "BENCH_METHOD": scenario.method,
        "BENCH_PATH": scenario.path,
        "BENCH_THREADS": str(threads),
        "BENCH_UA": ua,
        "BENCH_TOKEN_FIELD": scenario.token_field,
    }
    for name in ("BENCH_BODY", "BENCH_AUTH", "BENCH_TOKENS", "BENCH_VARIANTS"):
        env.pop(name, None)
    if scenario.body is not None:
        env["BENCH_BODY"] = json.dumps(scenario.body)
    if scenario.auth:
        env["BENCH_AUTH"] = scenario.auth
    if scenario.token_file:
        env["BENCH_TOKENS"] = str(scenario.token_file)
    if scenario.variants:
        env["BENCH_VARIANTS"] = str(scenario.variants)
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        base_url,
    ]
    out = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH_RESULT "))
    data = json.loads(line.split(" ", 1)[1])
    return LoadResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        non2xx=data["non2xx"],
        errors=sum(data[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")),
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
    )


def run_python(
    base_url: str, scenario: Scenario, *, seconds: float, connections: int, ua: str
) -> LoadResult:
    """``connections`` threads, each with a keep-alive connection, until the deadline."""
    _check_local(base_url)
    parts = urlsplit(base_url)
    tokens = iter(scenario.token_file.read_text().split()) if scenario.token_file else None
    lock = threading.Lock()
    latencies: list[float] = []
    counts = {"non2xx": 0, "errors": 0}
    headers = {"Content-Type": "application/json", "User-Agent": ua}
    if scenario.auth:
        headers["Authorization"] = scenario.auth
    deadline = time.perf_counter() + seconds
    sequence = itertools.count()

    def request() -> tuple[bytes | None, dict]:
        if tokens is not None:
            with lock:
                token = next(tokens, "pool-exhausted-0000000000000000")
            return json.dumps({scenario.token_field: token}).encode(), headers
        payload = json.dumps(scenario.body) if scenario.body is not None else None
        if not scenario.variants:
            return (payload.encode() if payload else None), headers
        i = next(sequence) % scenario.variants
        payload = (payload or "").replace("{i}", str(i))
        return payload.encode(), {**headers, "X-Forwarded-For": f"198.51.100.{i % 254 + 1}"}

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        mine: list[float] = []
        while time.perf_counter() < deadline:
            payload, sent_headers = request()
            start = time.perf_counter()
            try:
                conn.request(scenario.method, scenario.path, body=payload, headers=sent_headers)
                response = conn.getresponse()
                response.read()
                ok = 200 <= response.status < 400
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                conn.close()
                with lock:
                    counts["errors"] += 1
                continue
            mine.append((time.perf_counter() - start) * 1000)
            if not ok:
                with lock:
                    counts["non2xx"] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    workers = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies) or [0.0]

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * (len(ordered) - 1)))]

    return LoadResult(
        requests=len(latencies),
        seconds=elapsed,
        non2xx=counts["non2xx"],
        errors=counts["errors"],
        p50_ms=statistics.median(ordered),
        p90_ms=pct(0.9),
        p99_ms=pct(0.99),
    )
