"""Usage benchmarks (imported by bench/run.py --suite usage).

Floors in the same run: a bare asyncpg atomic-upsert loop (32 concurrent tasks, one counter
per task slot) and allot's own `{ __typename }`. Scenarios: reportUsage through GraphQL with
a fresh idempotency key per request, on one hot counter and spread over 100 customers; and
reportEvents in batches of 1,000 from 4 concurrent clients.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
import time
import uuid
from typing import Any

import asyncpg
import httpx

REPORT = (
    "mutation($i: ReportUsageInput!) { reportUsage(input: $i) { accepted "
    "usage { currentUsage } errors { code } } }"
)


def wrk_script_report(key: str, customers: list[str], run: str) -> str:
    """A wrk Lua script posting reportUsage with a unique idempotency key per request, each
    key starting with `run`."""
    names = ", ".join(json.dumps(c) for c in customers)
    query = json.dumps(REPORT)
    return f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
local customers = {{ {names} }}
local run = "{run}"
local n = 0
request = function()
  n = n + 1
  local c = customers[(n % #customers) + 1]
  local body = string.format('{{"query": %s, "variables": {{"i": {{"customerId": "%s", ' ..
    '"featureId": "seats", "value": 1, "idempotencyKey": "%s-%d"}}}}}}', {json.dumps(query)},
    c, run, n)
  return wrk.format(nil, nil, nil, body)
end
"""


def run_wrk_script(
    script: str, url: str, duration: int, connections: int, parse: Any
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    cmd = [
        "taskset",
        "-c",
        "1",
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        f.name,
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    return parse(out)  # type: ignore[no-any-return]


async def recorded(database_url: str, run: str) -> int:
    """Reports of a run recorded (each stored its key: every report of the run is accepted)."""
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM usage_idempotency_keys WHERE key LIKE $1", f"{run}-%"))
    finally:
        await conn.close()


async def floor_upsert(database_url: str, duration: float, tasks: int = 32) -> dict[str, float]:
    """The bare minimum: one atomic INSERT … ON CONFLICT DO UPDATE per operation."""
    pool = await asyncpg.create_pool(database_url, min_size=tasks // 4, max_size=8)
    await pool.execute("CREATE TABLE IF NOT EXISTS bench_floor (k text primary key, v float8)")
    done = 0
    deadline = time.perf_counter() + duration

    async def worker(i: int) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            async with pool.acquire() as conn:
                await conn.execute(
                    "INSERT INTO bench_floor (k, v) VALUES ($1, 1) ON CONFLICT (k) "
                    "DO UPDATE SET v = bench_floor.v + 1",
                    f"k{i % 4}",
                )
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(tasks)))
    elapsed = time.perf_counter() - started
    await pool.close()
    return {"ops": done / elapsed}


async def events_load(
    base: str, key: str, customers: list[str], duration: float, clients: int = 4, batch: int = 1000
) -> dict[str, float]:
    """Sustained reportEvents in batches of `batch` from `clients` concurrent clients."""
    query = (
        "mutation($i: ReportEventsInput!) { reportEvents(input: $i) { accepted "
        "duplicates errors { code } } }"
    )
    accepted = 0
    latencies: list[float] = []
    deadline = time.perf_counter() + duration
    run = uuid.uuid4().hex[:8]

    async def client(c: int) -> None:
        nonlocal accepted
        n = 0
        async with httpx.AsyncClient(
            base_url=base, timeout=60, headers={"Authorization": f"Bearer {key}"}
        ) as http:
            while time.perf_counter() < deadline:
                events = [
                    {
                        "customerId": customers[(n + i) % len(customers)],
                        "eventName": "api_call",
                        "idempotencyKey": f"{run}-{c}-{n}-{i}",
                    }
                    for i in range(batch)
                ]
                n += 1
                t0 = time.perf_counter()
                r = await http.post(
                    "/graphql", json={"query": query, "variables": {"i": {"events": events}}}
                )
                latencies.append(time.perf_counter() - t0)
                body = r.json()
                assert "errors" not in body, body
                accepted += body["data"]["reportEvents"]["accepted"]

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "events_per_s": accepted / elapsed,
        "batches": len(latencies),
        "batch_p50_ms": latencies[len(latencies) // 2] * 1000,
        "batch_p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }
