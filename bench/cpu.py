"""CPU per request, in-process: a figure a busy machine barely moves.

    python bench/cpu.py [--requests 20000] [--concurrency 32]

`bench/run.py` measures req/s and latency with wrk against floors in the same run: the
figures the issues name. On a machine shared with other work those move by tens of percent
between runs. This measures what they mostly follow, the server's own CPU time per request,
by calling the ASGI apps directly (no sockets, no HTTP parsing: the same uvicorn cost is
left out of every figure, so the ratios here are somewhat lower than wrk's would be on an
idle machine) with `concurrency` requests in flight, on the real database:

  floor (m)  the minimal strawberry app answering `{ __typename }` (bench/floor_strawberry.py)
  floor (b)  allot's own endpoint answering `{ __typename }`
  check      the GraphQL `entitlement` check of bench/run.py (warm)
  rest       the REST check
  report     `reportUsage` with an idempotency key (bench/usage.py's)
  state      `entitlementsState` with every field the SDK reads

Use it to compare commits; report the issue's figures with bench/run.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import run as wrk_bench  # noqa: E402

# What the SDK loads (bench/push.py's query): an answer per feature.
STATE_QUERY = (
    "query($c: String!) { entitlementsState(customerId: $c) { version denyReason "
    "hasActiveSubscription validUntil entitlements { featureId featureType hasAccess "
    "denyReason isUnlimited isSoftLimit usageLimit currentUsage remaining value enumValues "
    "resetPeriod usagePeriodStart usagePeriodEnd sources { kind planId addonId isEffective } } "
    "usageVersions { featureId version } } }"
)

Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Send], Awaitable[None]]


def request(method: str, path: str, body: bytes | Callable[[], bytes],
            headers: dict[str, str]) -> Callable[[App], Awaitable[int]]:
    """One ASGI request (`body`: or what makes each call's); the call answers its status."""
    query_at = path.find("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path if query_at < 0 else path[:query_at],
        "raw_path": path.encode(), "root_path": "",
        "query_string": b"" if query_at < 0 else path[query_at + 1:].encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
    }

    async def call(app: App) -> int:
        status = 0
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)  # no disconnect while the app answers
            sent = True
            data = body() if callable(body) else body
            return {"type": "http.request", "body": data, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(dict(scope), receive, send)
        return status

    return call


def report_usage(key: str, customer: str) -> Callable[[App], Awaitable[int]]:
    """`reportUsage` of 1 seat with a new idempotency key each call (as bench/usage.py)."""
    from bench.usage import REPORT

    count = iter(range(1 << 62))

    def body() -> bytes:
        report = {"customerId": customer, "featureId": "seats", "value": 1,
                  "idempotencyKey": f"cpu-{next(count)}"}
        return json.dumps({"query": REPORT, "variables": {"i": report}}).encode()

    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    return request("POST", "/graphql", body, headers)


def graphql(query: str, variables: dict[str, Any] | None, key: str | None) -> Callable[
    [App], Awaitable[int]
]:
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    return request("POST", "/graphql", body, headers)


async def cpu_per_request(app: App, call: Callable[[App], Awaitable[int]], total: int,
                          concurrency: int) -> float:
    """Microseconds of this process's CPU per request, `concurrency` requests in flight."""
    for _ in range(min(100, total)):  # warm: caches, plans, connections
        assert await call(app) == 200
    left = total

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            status = await call(app)
            assert status == 200, status

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - started) / total * 1e6


async def measure(database_url: str, key: str, customer: str, total: int,
                  concurrency: int, rounds: int, only: str = "") -> dict[str, float]:
    import os

    from app.main import create_app
    from app.settings import Settings
    from bench.floor_strawberry import app as floor_m

    os.environ.update(wrk_bench.BENCH_SETTINGS)  # as bench/run.py's servers
    allot = create_app(database_url, Settings.from_env())
    rest = request("GET", f"/v1/customers/{customer}/entitlements/seats?requestedUsage=1",
                   b"", {"authorization": f"Bearer {key}"})
    scenarios = {
        "floor_m_cpu_us": (floor_m, graphql("{ __typename }", None, None)),
        "floor_b_cpu_us": (allot, graphql("{ __typename }", None, key)),
        "check_cpu_us": (allot, graphql(wrk_bench.CHECK_QUERY, {"c": customer, "f": "seats"},
                                        key)),
        "rest_cpu_us": (allot, rest),
        "report_cpu_us": (allot, report_usage(key, customer)),
        "state_cpu_us": (allot, graphql(STATE_QUERY, {"c": customer}, key)),
    }
    # Rounds, each scenario in turn, the least of each kept: whatever else runs on the
    # machine only ever adds to a figure (cache misses, a shared core), so the least is the
    # closest to the figure on an idle machine, and alternating spreads the noise evenly.
    out: dict[str, float] = {}
    async with allot.router.lifespan_context(allot):
        for _ in range(rounds):
            for name, (app, call) in scenarios.items():
                if only and not name.startswith(only):
                    continue
                spent = await cpu_per_request(app, call, total // rounds, concurrency)
                out[name] = min(out.get(name, spent), spent)
    if not only:
        out["check_vs_m"] = out["floor_m_cpu_us"] / out["check_cpu_us"]
        out["check_vs_b"] = out["floor_b_cpu_us"] / out["check_cpu_us"]
        out["report_vs_m"] = out["floor_m_cpu_us"] / out["report_cpu_us"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default="", help="scenarios whose name starts so (profiling)")
    args = parser.parse_args()
    server, embedded = wrk_bench.server_url()
    database_url = asyncio.run(wrk_bench.fresh_database(server))
    try:
        wrk_bench.upgrade(database_url)
        key = asyncio.run(wrk_bench.bootstrap_key(database_url))
        port = wrk_bench.free_port()
        seeder = wrk_bench.start("app.main:app_from_env", database_url, port, factory=True)
        try:
            customer = asyncio.run(wrk_bench.seed(f"http://127.0.0.1:{port}", key))
        finally:
            wrk_bench.stop(seeder)
        import uvloop

        results = uvloop.run(measure(database_url, key, customer, args.requests,
                                     args.concurrency, args.rounds, args.only))
    finally:
        asyncio.run(wrk_bench.drop_database(database_url))
        if embedded is not None:
            embedded.stop()
    print(json.dumps({"requests": args.requests, "concurrency": args.concurrency, **results},
                     indent=2))


if __name__ == "__main__":
    main()
