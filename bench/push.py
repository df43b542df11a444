"""Push propagation: a change committed through the API → the event received by subscribers.

    python bench/push.py [--subscribers 200] [--changes 200] [--rate 20]

Two allot server processes on one (fresh) database, 100 customers on pro (bench/run.py's seed).
`--subscribers` graphql-transport-ws connections, split evenly across the two processes, each
subscribed to `entitlementsChanged(customerId)` of one customer (so every customer is watched
on both processes). Then `--changes` changes at `--rate` a second, each through process A's
API on a random customer (grantPromotionalEntitlements / revokePromotionalEntitlement of
`sso`, alternating), and for each the time from sending the mutation to each watching
subscriber receiving the event is measured: it includes the mutation's own latency (the
commit happens before its response), so it is an upper bound of commit → delivery.
Results: bench/results/push-<timestamp>.json; the figure goes to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.typing import Subprotocol

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.store.migrate import upgrade  # noqa: E402
from bench.run import (  # noqa: E402
    bootstrap_key,
    drop_database,
    free_port,
    fresh_database,
    seed,
    server_url,
    start,
    stop,
    write_results,
    wrk,
)

CHANGED = (
    "subscription($c: String) { entitlementsChanged(customerId: $c) { customerId "
    "version state { entitlements { featureId hasAccess } } } }"
)
GRANT = (
    "mutation($c: String!) { grantPromotionalEntitlements(input: {customerId: $c, "
    'grants: [{featureId: "sso", duration: ONE_WEEK}]}) { errors { code } } }'
)
REVOKE = (
    "mutation($c: String!) { revokePromotionalEntitlement(input: {customerId: $c, "
    'featureId: "sso"}) { errors { code } } }'
)
CUSTOMERS = [f"cust-{i:03}" for i in range(100)]
STATE = (
    "query($c: String!) { entitlementsState(customerId: $c) { version denyReason "
    "hasActiveSubscription validUntil entitlements { featureId featureType hasAccess "
    "denyReason isUnlimited isSoftLimit usageLimit currentUsage remaining value enumValues "
    "resetPeriod usagePeriodStart usagePeriodEnd sources { kind planId addonId isEffective } } "
    "usageVersions { featureId version } } }"
)


def state_throughput(base: str, key: str, duration: int, connections: int) -> dict[str, Any]:
    """wrk (pinned to CPU 1, as bench/run.py) on the REST check and on `entitlementsState`
    (every field an evaluator needs), alternately, twice each."""
    auth = {"Authorization": f"Bearer {key}"}
    rest, state = [], []
    for _ in range(2):
        rest.append(
            wrk(
                f"{base}/v1/customers/cust-000/entitlements/seats?requestedUsage=1",
                duration,
                connections,
                None,
                auth,
            )
        )
        state.append(
            wrk(
                f"{base}/graphql",
                duration,
                connections,
                {"query": STATE, "variables": {"c": "cust-000"}},
                auth,
            )
        )
    best_rest = max(r["rps"] for r in rest)
    best_state = max(r["rps"] for r in state)
    return {
        "rest_check": rest,
        "entitlements_state": state,
        "ratio_state_vs_rest": best_state / best_rest,
    }


def start_server(database_url: str, port: int) -> subprocess.Popen[bytes]:
    """An API process, not pinned: two of them share the machine's cores."""
    return start("app.main:app_from_env", database_url, port, factory=True, pinned=False,
                 extra_env={"ALLOT_WEBHOOK_INTERVAL": "0"})


class Subscriber:
    def __init__(self, index: int, base: str, key: str, customer: str) -> None:
        self.index, self.base, self.key, self.customer = index, base, key, customer
        self.received: list[tuple[float, str]] = []  # (monotonic time, version)

    async def run(self, ready: asyncio.Event, stop_at: asyncio.Event) -> None:
        url = self.base.replace("http", "ws", 1) + "/graphql"
        async with websockets.connect(
            url, subprotocols=[Subprotocol("graphql-transport-ws")]
        ) as ws:
            await ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {self.key}"}}
                )
            )
            ack = json.loads(await ws.recv())
            assert ack["type"] == "connection_ack", ack
            await ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": CHANGED, "variables": {"c": self.customer}},
                    }
                )
            )
            ready.set()
            receiving = asyncio.create_task(self._receive(ws))
            await stop_at.wait()
            receiving.cancel()

    async def _receive(self, ws: Any) -> None:
        async for text in ws:
            message = json.loads(text)
            if message["type"] == "next":
                change = message["payload"]["data"]["entitlementsChanged"]
                self.received.append((time.monotonic(), change["version"]))
            elif message["type"] == "ping":
                await ws.send(json.dumps({"type": "pong"}))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50), 2),
        "p95_ms": round(percentile(values, 95), 2),
        "p99_ms": round(percentile(values, 99), 2),
        "max_ms": round(max(values), 2),
        "mean_ms": round(statistics.fmean(values), 2),
    }


async def measure(
    bases: list[str], key: str, subscribers: int, changes: int, rate: float
) -> dict[str, Any]:
    subs = [
        Subscriber(i, bases[i % 2], key, CUSTOMERS[(i // 2) % len(CUSTOMERS)])
        for i in range(subscribers)
    ]
    stop_at = asyncio.Event()
    readies = [asyncio.Event() for _ in subs]
    tasks = [asyncio.create_task(s.run(r, stop_at)) for s, r in zip(subs, readies, strict=True)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
    await asyncio.sleep(2)  # every subscribe message registered on its server
    watchers: dict[str, list[Subscriber]] = {}
    for s in subs:
        watchers.setdefault(s.customer, []).append(s)
    granted: dict[str, bool] = {}
    sent: list[tuple[str, float, float]] = []  # customer, sent at, answered at
    rng = random.Random(7)
    async with httpx.AsyncClient(
        base_url=bases[0], timeout=30, headers={"Authorization": f"Bearer {key}"}
    ) as http:
        for _ in range(changes):
            customer = rng.choice(sorted(watchers))
            query = REVOKE if granted.get(customer) else GRANT
            granted[customer] = not granted.get(customer)
            started = time.monotonic()
            response = await http.post(
                "/graphql", json={"query": query, "variables": {"c": customer}}
            )
            body = response.json()
            assert "errors" not in body, body
            assert next(iter(body["data"].values()))["errors"] == [], body
            sent.append((customer, started, time.monotonic()))
            await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))
    await asyncio.sleep(2)  # the last events in flight
    stop_at.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    # Match each change to the next event each watcher of its customer received after it.
    from_send: dict[str, list[float]] = {"same_process": [], "other_process": []}
    from_answer: list[float] = []
    missing = 0
    cursor = {s.index: 0 for s in subs}
    for customer, started, answered in sent:
        for s in watchers[customer]:
            events = s.received
            i = cursor[s.index]
            while i < len(events) and events[i][0] < started:
                i += 1
            if i >= len(events):
                missing += 1
                continue
            cursor[s.index] = i + 1
            where = "same_process" if s.base == bases[0] else "other_process"
            from_send[where].append((events[i][0] - started) * 1000)
            from_answer.append((events[i][0] - answered) * 1000)
    every = from_send["same_process"] + from_send["other_process"]
    return {
        "subscribers": subscribers,
        "changes": changes,
        "rate_per_s": rate,
        "deliveries_expected": sum(len(watchers[c]) for c, _, _ in sent),
        "missing": missing,
        "send_to_event": summary(every),
        "send_to_event_same_process": summary(from_send["same_process"]),
        "send_to_event_other_process": summary(from_send["other_process"]),
        "mutation_answered_to_event": summary(from_answer),
        "mutation_latency": summary([(a - s) * 1000 for _, s, a in sent]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="changes a second")
    parser.add_argument(
        "--state-duration",
        type=int,
        default=0,
        help="also: seconds of wrk on entitlementsState vs the REST check",
    )
    args = parser.parse_args()
    server, embedded = server_url()
    database_url = asyncio.run(fresh_database(server))
    results: dict[str, Any] = {"when": datetime.now(UTC).isoformat(), "cpus": os.cpu_count()}
    procs = []
    try:
        upgrade(database_url)
        key = asyncio.run(bootstrap_key(database_url))
        ports = [free_port(), free_port()]
        procs = [start_server(database_url, port) for port in ports]
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        asyncio.run(seed(bases[0], key))
        results["push"] = asyncio.run(
            measure(bases, key, args.subscribers, args.changes, args.rate)
        )
        if args.state_duration:
            results["state"] = state_throughput(bases[0], key, args.state_duration, 32)
    finally:
        for proc in procs:
            stop(proc)
        asyncio.run(drop_database(database_url))
        if embedded is not None:
            embedded.stop()
    write_results(results, prefix="push-")


if __name__ == "__main__":
    main()
