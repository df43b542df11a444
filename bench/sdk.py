"""SDK benchmarks: the in-process `check()` and `report_usage()` (issue 12's numbers).

    .venv/bin/python bench/sdk.py                      # starts `allot serve --demo` itself
    .venv/bin/python bench/sdk.py --url URL --key KEY  # a running allot with the demo data

* `check()`: the sync client, states preloaded for the demo customers, a mix of four checks
  (a hard limit with a requested usage, a boolean, an enum with requested values, an
  unlimited counter). Each call timed alone with `time.perf_counter_ns()` (its own ~50 ns
  included) over N calls after a warm-up; garbage collection left on. p50, p99, p99.9.
* `report_usage()`: N reports of 1 on one unlimited counter from the calling thread; calls/s
  accepted (the time the caller spends in `report_usage`), then the time until `flush()`
  returns, then the counter read back from the server: it must have grown by exactly N, and
  no report may have been refused.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from allot_sdk import CACHED, AllotClient

ROOT = Path(__file__).resolve().parents[1]
CHECKS: list[tuple[str, str, float | None, list[str] | None]] = [
    ("initech", "seats", 1.0, None),
    ("globex", "sso", None, None),
    ("umbrella", "support-tier", None, ["premium"]),
    ("umbrella", "projects", None, None),
]
USAGE = """query($c: String!, $f: String!) { entitlement(customerId: $c, featureId: $f) {
  currentUsage } }"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DemoServer:
    """`allot serve --demo` on an embedded PostgreSQL in a temporary data directory."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="allot-bench-sdk-")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "ALLOT_"))}
        env.update(ALLOT_DATA_DIR=f"{self.dir}/data", ALLOT_LOG_LEVEL="WARNING")
        self.port = free_port()
        self.log = open(f"{self.dir}/serve.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--demo", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.port}"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def key(self, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        pattern = re.compile(r"^\s+development\s+server key\s+(allot_sk_\S+)")
        while time.monotonic() < deadline:
            for line in self.lines:
                if match := pattern.match(line):
                    self._wait_healthy(deadline)
                    return match.group(1)
            if self.proc.poll() is not None:
                raise SystemExit(f"allot serve exited: {Path(self.log.name).read_text()}")
            time.sleep(0.2)
        raise SystemExit("allot serve printed no key in time")

    def _wait_healthy(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise SystemExit("allot serve not healthy in time")

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def percentile(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000.0


def bench_check(allot: AllotClient, calls: int, warmup: int) -> dict[str, Any]:
    check = allot.check
    cases = CHECKS
    for n in range(warmup):
        customer, feature, usage, values = cases[n & 3]
        check(customer, feature, usage, values)
    for customer, feature, usage, values in cases:
        assert check(customer, feature, usage, values).reason == CACHED
    timings = [0] * calls
    clock = time.perf_counter_ns
    for n in range(calls):
        customer, feature, usage, values = cases[n & 3]
        started = clock()
        check(customer, feature, usage, values)
        timings[n] = clock() - started
    timings.sort()
    started = clock()
    for n in range(calls):
        customer, feature, usage, values = cases[n & 3]
        check(customer, feature, usage, values)
    loop_ns = clock() - started
    return {
        "calls": calls,
        "p50_us": percentile(timings, 0.50),
        "p99_us": percentile(timings, 0.99),
        "p999_us": percentile(timings, 0.999),
        "mean_us_untimed_loop": loop_ns / calls / 1000.0,
    }


def counter(url: str, key: str) -> float:
    response = httpx.post(
        f"{url}/graphql",
        headers={"Authorization": f"Bearer {key}"},
        json={"query": USAGE, "variables": {"c": "umbrella", "f": "projects"}},
    )
    return float(response.json()["data"]["entitlement"]["currentUsage"] or 0)


def bench_report(
    allot: AllotClient, url: str, key: str, calls: int, refused: list[Any]
) -> dict[str, Any]:
    before = counter(url, key)
    started = time.perf_counter()
    for _ in range(calls):
        allot.report_usage("umbrella", "projects", 1)
    accepted = time.perf_counter() - started
    allot.flush(timeout=300)
    flushed = time.perf_counter() - started
    after = counter(url, key)
    return {
        "calls": calls,
        "accepted_per_s": calls / accepted,
        "recorded_per_s_until_flushed": calls / flushed,
        "counter_grew_by": after - before,
        "refused": len(refused),
        "exactly_once": after - before == calls and not refused,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--key")
    parser.add_argument("--checks", type=int, default=200_000)
    parser.add_argument("--reports", type=int, default=100_000)
    args = parser.parse_args()
    server = None
    url, key = args.url, args.key
    if not url:
        server = DemoServer()
        key, url = server.key(), server.url
    refused: list[Any] = []
    try:
        with AllotClient(url, key, on_usage_error=lambda *a: refused.append(a)) as allot:
            allot.preload(sorted({c for c, *_ in CHECKS}))
            results = {
                "python": platform.python_version(),
                "implementation": platform.python_implementation(),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "check": bench_check(allot, args.checks, warmup=20_000),
                "report_usage": bench_report(allot, url, key, args.reports, refused),
            }
    finally:
        if server is not None:
            server.stop()
    print(json.dumps(results, indent=2))
    assert results["report_usage"]["exactly_once"], "reports lost or doubled"


if __name__ == "__main__":
    main()
