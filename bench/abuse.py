"""The most expensive requests a client (publishable) key can send within the limits.

    python bench/abuse.py [--duration 10] [--clients 4]

Starts allot (`uvicorn`, one worker pinned to CPU 0) on a fresh database with the demo
catalog and 100 customers, then, with a *client* key:

1. sends each candidate below repeatedly and reads the server process's CPU time from
   /proc (user + system) around it: CPU per request, whatever the answer (a refusal is
   cheap, which is the point);
2. takes the three most expensive and has `--clients` connections send it in a loop (fresh
   bodies each time, so caches do not help) while a probe asks `/healthz` every 20 ms: the
   probe's p50/p99.

Rate limits are switched off for the server (`ALLOT_RATE_LIMIT_CLIENT=0`): they would hide
what one request costs, and a client can spread over many keys. Results go to
bench/results/abuse-<timestamp>.json; the table is printed for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from graphql import get_introspection_query

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import (  # noqa: E402
    drop_database,
    free_port,
    fresh_database,
    seed,
    server_url,
    start,
    stop,
    write_results,
)

TICKS = os.sysconf("SC_CLK_TCK")
BATCH = 10  # the default ALLOT_MAX_BATCH
ALIASES = 30  # the default ALLOT_MAX_ALIASES
FIT = 19  # root fields per operation that a batch of 10 fits in a client key's cost budget

PLAN_FIELDS = (
    "id name description productId version hasDraft isArchived parentPlanId pricingType "
    "entitlements { featureId usageLimit isUnlimited isSoftLimit resetPeriod value enumValues "
    "isVariable behavior } prices { model billingPeriod amount currency featureId tierMode "
    "tiers { upTo unitAmount flatAmount } } versions { version name publishedAt entitlements "
    "{ featureId usageLimit value } prices { amount currency tiers { upTo unitAmount } } }"
)
CHECK_FIELDS = (
    "featureId hasAccess denyReason isUnlimited isSoftLimit usageLimit currentUsage "
    "requestedUsage remaining value enumValues resetPeriod usagePeriodStart usagePeriodEnd "
    "sources { kind subscriptionId planId addonId quantity usageLimit isUnlimited value "
    "isTrial isEffective }"
)


def _batch(make: Callable[[int], str]) -> list[dict[str, Any]]:
    return [{"query": make(i)} for i in range(BATCH)]


def candidates(run: list[int]) -> dict[str, Callable[[], Any]]:
    """Each candidate builds a fresh body per call (`run` changes operation names so that no
    cache can help where the attack relies on distinct texts)."""

    def fresh() -> int:
        run[0] += 1
        return run[0]

    def checks(i: int) -> str:
        return (
            "{ "
            + " ".join(
                f'c{j}: entitlements(customerId: "cust-{(i * ALIASES + j) % 100:03}") '
                f"{{ {CHECK_FIELDS} }}"
                for j in range(ALIASES)
            )
            + " }"
        )

    return {
        # The reproduced stall: 10 operations each repeating a field ~1,200 times.
        "repeated fields (the old 22 s stall)": lambda: _batch(
            lambda i: f"query Q{fresh()}_{i} {{ " + "plans { totalCount } " * 1_200 + "}"
        ),
        "fragments spreading fragments": lambda: {
            "query": '{ __type(name: "Plan") { ...L12 } } fragment L0 on __Type { name } '
            + " ".join(
                f"fragment L{k} on __Type {{ a: ofType {{ ...L{k - 1} }} "
                f"b: ofType {{ ...L{k - 1} }} }}"
                for k in range(1, 13)
            )
        },
        "batch of 300 aliased entitlement lists": lambda: _batch(checks),
        f"batch of {BATCH * FIT} aliased checks": lambda: _batch(
            lambda i: (
                "{ "
                + " ".join(
                    f'c{j}: entitlement(customerId: "cust-{(i * FIT + j) % 100:03}", '
                    f'featureId: "seats") {{ hasAccess usageLimit }}'
                    for j in range(FIT)
                )
                + " }"
            )
        ),
        f"batch of {BATCH * FIT} aliased entitlement lists, two fields": lambda: _batch(
            lambda i: (
                "{ "
                + " ".join(
                    f'c{j}: entitlements(customerId: "cust-{(i * FIT + j) % 100:03}") '
                    "{ featureId hasAccess }"
                    for j in range(FIT)
                )
                + " }"
            )
        ),
        "a literal list of 990 values, distinct texts": lambda: {
            "query": f'query L{fresh()} {{ entitlement(customerId: "cust-001", '
            'featureId: "regions", requestedValues: ['
            + ", ".join(f'"v{k}"' for k in range(990))
            + "]) { hasAccess } }"
        },
        "batch of full introspections": lambda: [{"query": get_introspection_query()}] * BATCH,
        "one full introspection": lambda: {"query": get_introspection_query()},
        "one full introspection, distinct texts": lambda: {
            "query": get_introspection_query().replace(
                "IntrospectionQuery", f"Introspection{fresh()}"
            )
        },
        "catalog pages, distinct texts": lambda: _batch(
            lambda i: (
                f"query P{fresh()}_{i} {{ plans(first: 100) {{ totalCount edges {{ "
                f"node {{ {PLAN_FIELDS} }} }} }} }}"
            )
        ),
        "1 MB of requested values": lambda: {
            "query": 'query($v: [String!]) { entitlement(customerId: "cust-001", '
            'featureId: "regions", requestedValues: $v) { hasAccess } }',
            "variables": {"v": ["eu"] * 150_000},
        },
        "1,000 requested values": lambda: {
            "query": 'query($v: [String!]) { entitlement(customerId: "cust-001", '
            'featureId: "regions", requestedValues: $v) { hasAccess } }',
            "variables": {"v": [f"v{k}" for k in range(990)]},
        },
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def measure(
    client: httpx.Client, pid: int, body: Callable[[], Any], seconds: float
) -> dict[str, Any]:
    """CPU per request over at least `seconds` of sending (and at least 5 requests)."""
    first = client.post("/graphql", json=body())
    statuses: set[int] = {first.status_code}
    codes = _codes(first)
    count = 0
    started_cpu, started = cpu_seconds(pid), time.monotonic()
    while count < 5 or time.monotonic() - started < seconds:
        response = client.post("/graphql", json=body())
        statuses.add(response.status_code)
        count += 1
    cpu = cpu_seconds(pid) - started_cpu
    return {
        "requests": count,
        "cpu_ms_per_request": round(1000 * cpu / count, 2),
        "statuses": sorted(statuses),
        "answer": codes,
    }


def _codes(response: httpx.Response) -> str:
    body = response.json()
    items = body if isinstance(body, list) else [body]
    codes = sorted(
        {e.get("extensions", {}).get("code", "?") for item in items for e in item.get("errors", [])}
    )
    return ", ".join(codes) if codes else "answered"


def probe_healthz(base: str, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            client.get("/healthz")
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.02)
    latencies.sort()
    return {
        "probes": len(latencies),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        "max_ms": round(latencies[-1], 2),
    }


def load(
    base: str, auth: dict[str, str], make: Callable[[], Any], clients: int, seconds: int
) -> dict[str, Any]:
    stop_at = time.monotonic() + seconds
    sent: list[int] = []

    def loop() -> None:
        with httpx.Client(base_url=base, headers=auth, timeout=120) as own:
            while time.monotonic() < stop_at:
                own.post("/graphql", json=make())
                sent.append(1)

    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    healthz = probe_healthz(base, seconds - 2)
    for thread in threads:
        thread.join()
    return {"requests": len(sent), "healthz": healthz}


async def keys(database_url: str) -> tuple[str, str]:
    from app.auth import KeyKind
    from app.db import Database
    from app.domain import audit
    from app.domain.audit import AuditActor
    from app.store import tenancy

    db = Database(database_url)
    async with audit.transaction(db, AuditActor.cli("bench")) as session:
        account = await tenancy.create_account(session, "bench")
        env = await tenancy.create_environment(session, account.pk, "development", "Dev")
        _, server = await tenancy.create_api_key(session, env.pk, KeyKind.SERVER)
        _, client = await tenancy.create_api_key(session, env.pk, KeyKind.CLIENT)
    await db.close()
    return server, client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--per-candidate", type=float, default=3.0)
    args = parser.parse_args()
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        sys.exit("needs wrk and taskset (apt-get install wrk util-linux)")
    from app.store.migrate import upgrade

    os.environ["ALLOT_RATE_LIMIT_CLIENT"] = "0"
    os.environ["ALLOT_RATE_LIMIT_SERVER"] = "0"
    server, embedded = server_url()
    database_url = asyncio.run(fresh_database(server))
    results: dict[str, Any] = {"when": datetime.now(UTC).isoformat(), "cpus": os.cpu_count()}
    try:
        upgrade(database_url)
        server_key, client_key = asyncio.run(keys(database_url))
        port = free_port()
        allot = start("app.main:app_from_env", database_url, port, factory=True)
        base = f"http://127.0.0.1:{port}"
        try:
            asyncio.run(seed(base, server_key))
            auth = {"Authorization": f"Bearer {client_key}"}
            run = [0]
            measured: dict[str, Any] = {}
            with httpx.Client(base_url=base, headers=auth, timeout=120) as client:
                results["idle_healthz"] = probe_healthz(base, 3)
                for name, body in candidates(run).items():
                    measured[name] = measure(client, allot.pid, body, args.per_candidate)
                    print(f"{name}: {measured[name]}", flush=True)
            results["candidates"] = measured
            ranked = sorted(measured, key=lambda n: -measured[n]["cpu_ms_per_request"])
            results["worst"] = ranked[0]
            # The three most expensive in a loop from `--clients` connections each (fresh
            # bodies, as the candidate builds them), /healthz probed meanwhile.
            results["under_load"] = {
                name: load(base, auth, candidates(run)[name], args.clients, args.duration)
                for name in ranked[:3]
            }
            for name, figures in results["under_load"].items():
                print(f"{name} x{args.clients}: {figures}", flush=True)
        finally:
            stop(allot)
    finally:
        asyncio.run(drop_database(database_url))
        if embedded is not None:
            embedded.stop()
    write_results(results, "abuse-")


if __name__ == "__main__":
    main()
