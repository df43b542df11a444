"""Benchmarks with wrk against floors measured in the same run.

    python bench/run.py [--duration 10] [--connections 32] [--only checks]

Each server runs pinned to CPU 0 (taskset), wrk to CPU 1. Floors:
  (a) floor_asyncpg: bare Starlette + one asyncpg primary-key select;
  (b) allot's own GraphQL endpoint answering `{ __typename }` (same auth, extensions);
  (m) floor_strawberry: a minimal strawberry app answering `{ __typename }` (its own ASGI view).
Scenarios:
  graphql-check: POST /graphql `entitlement(customerId, featureId, requestedUsage)` (warm);
  rest-check:    GET /v1/customers/{id}/entitlements/{feature}?requestedUsage=1;
  list-100:      `customers(first: 100)` with subscriptions, add-ons and entitlements.
Results go to bench/results/<timestamp>.json; the table is printed for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.db import EmbeddedPostgres, replace_database, to_asyncpg_dsn  # noqa: E402
from app.store.migrate import upgrade  # noqa: E402
from bench import usage  # noqa: E402

CHECK_QUERY = (
    "query($c: String!, $f: String!) { entitlement(customerId: $c, featureId: $f, "
    "requestedUsage: 1) { hasAccess denyReason usageLimit currentUsage remaining "
    "usagePeriodEnd sources { kind isEffective } } }"
)
LIST_QUERY = (
    "{ customers(first: 100) { totalCount edges { node { id subscriptions { id status "
    "planId addons { addonId quantity } } entitlements { featureId hasAccess "
    "usageLimit } } } } }"
)


def write_results(results: dict[str, Any], prefix: str = "") -> None:
    """Keep a run's figures in bench/results/<prefix><timestamp>.json and print them."""
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"{prefix}{int(time.time())}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_url() -> tuple[str, EmbeddedPostgres | None]:
    url = os.environ.get("DATABASE_URL")
    if url:
        return to_asyncpg_dsn(url), None
    embedded = EmbeddedPostgres(ROOT / ".allot-bench")
    return embedded.dsn("postgres"), embedded


async def fresh_database(server: str, name: str | None = None) -> str:
    """A new, empty database on the server: `name` (dropped first if it exists), or a
    random allot_bench_… one."""
    name = name or f"allot_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(replace_database(server, "postgres"))
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return replace_database(server, name)


async def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1].split("?")[0]
    conn = await asyncpg.connect(replace_database(url, "postgres"))
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


def clean_up(database_url: str, embedded: Any, keep: bool = False) -> None:
    """After a bench: its database dropped (or kept, and said so), the embedded server
    stopped."""
    if keep:
        print("kept", database_url)
    else:
        asyncio.run(drop_database(database_url))
    if embedded is not None:
        embedded.stop()


# No background jobs; the rate limits run (their cost is part of every figure) but never
# refuse: wrk sends far more than the default 1,000 requests a second per key.
BENCH_SETTINGS = {
    "ALLOT_JOBS_INTERVAL": "0",
    "ALLOT_RATE_LIMIT_SERVER": "1000000000",
    "ALLOT_RATE_LIMIT_SERVER_BURST": "1000000000",
    "ALLOT_RATE_LIMIT_CLIENT": "1000000000",
    "ALLOT_RATE_LIMIT_CLIENT_BURST": "1000000000",
}


def start(
    module: str, database_url: str, port: int, factory: bool = False, *, pinned: bool = True,
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """A server on `port` (pinned to CPU 0 unless told otherwise), once it answers /healthz."""
    env = {
        **os.environ,
        **BENCH_SETTINGS,
        "DATABASE_URL": database_url,
        "ALLOT_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    cmd = [
        *(["taskset", "-c", "0"] if pinned else []),
        sys.executable,
        "-m",
        "uvicorn",
        module,
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    if factory:
        cmd.append("--factory")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    SERVERS[port] = proc.pid
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{module} did not start")


# The process serving each port (taskset execs the server in place: same pid).
SERVERS: dict[int, int] = {}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def wrk(
    url: str,
    duration: int,
    connections: int,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, float]:
    script = "wrk.method = '%s'\n" % ("POST" if body is not None else "GET")
    for key, value in (headers or {}).items():
        script += f"wrk.headers[{json.dumps(key)}] = {json.dumps(value)}\n"
    if body is not None:
        script += "wrk.headers['Content-Type'] = 'application/json'\n"
        script += f"wrk.body = {json.dumps(json.dumps(body))}\n"
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
    pid = SERVERS.get(int(url.split(":")[2].split("/")[0]))
    cpu_before = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    result = parse_wrk(out)
    if pid:
        # The server's own CPU per request: unlike req/s, barely moved by whatever else
        # runs on the machine (the database's CPU is not in it).
        result["server_cpu_us"] = (cpu_seconds(pid) - cpu_before) / result["requests"] * 1e6
    return result


def parse_wrk(out: str) -> dict[str, float]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = float(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p50 = _latency(out, "50%")
    p99 = _latency(out, "99%")
    return {
        "rps": rps,
        "requests": requests,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


def _latency(out: str, label: str) -> float:
    match = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out)
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


async def seed(base: str, key: str) -> str:
    """A catalog, 100 customers on pro with add-ons; returns one customer's pk."""
    import yaml

    doc = yaml.safe_load((ROOT / "app" / "cli" / "demo_catalog.yaml").read_text())
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:

        async def gql(query: str, variables: dict[str, Any] | None = None) -> Any:
            r = await client.post("/graphql", json={"query": query, "variables": variables})
            body = r.json()
            assert "errors" not in body, body
            return body["data"]

        out = await gql(
            "mutation($d: JSON!) { applyCatalog(input: {catalog: $d}) "
            "{ errors { code message } } }",
            {"d": doc},
        )
        assert out["applyCatalog"]["errors"] == [], out
        for i in range(100):
            out = await gql(
                "mutation($i: ProvisionCustomerInput!) { provisionCustomer(input: $i)"
                " { errors { code message } } }",
                {
                    "i": {
                        "customerId": f"cust-{i:03}",
                        "subscription": {"planId": "pro", "skipTrial": True},
                    }
                },
            )
            assert out["provisionCustomer"]["errors"] == [], out
        await gql(CHECK_QUERY, {"c": "cust-000", "f": "seats"})  # warm the cache
    return "cust-000"


async def bootstrap_key(database_url: str) -> str:
    from app.auth import KeyKind
    from app.db import Database
    from app.domain import audit
    from app.domain.audit import AuditActor
    from app.store import tenancy

    db = Database(database_url)
    async with audit.transaction(db, AuditActor.cli("bench")) as session:
        account = await tenancy.create_account(session, "bench")
        env = await tenancy.create_environment(session, account.pk, "development", "Dev")
        _, secret = await tenancy.create_api_key(session, env.pk, KeyKind.SERVER)
    await db.close()
    return secret


async def customer_pk(database_url: str, customer_id: str) -> str:
    conn = await asyncpg.connect(database_url)
    pk = await conn.fetchval("SELECT pk FROM customers WHERE id = $1", customer_id)
    await conn.close()
    return str(pk)


def client_with_token(base: str, auth: dict[str, str], customer: str) -> dict[str, str]:
    """The headers of a client key holding a customer token for `customer` (made with the
    server key `auth`)."""
    key = httpx.post(
        f"{base}/graphql",
        json={"query": "mutation { createApiKey(input: {kind: CLIENT}) { secret } }"},
        headers=auth,
        timeout=30,
    ).json()["data"]["createApiKey"]["secret"]
    token = httpx.post(
        f"{base}/graphql",
        json={
            "query": "mutation($c: String!) { createCustomerToken(input: {customerId: $c}) "
            "{ token errors { code } } }",
            "variables": {"c": customer},
        },
        headers=auth,
        timeout=30,
    ).json()["data"]["createCustomerToken"]
    assert token["errors"] == [], token
    return {"Authorization": f"Bearer {key}", "X-Allot-Customer-Token": token["token"]}


def run_checks(
    results: dict[str, Any], base: str, customer: str, auth: dict[str, str], d: int, c: int
) -> None:
    results["graphql_check"] = wrk(
        f"{base}/graphql",
        d,
        c,
        {"query": CHECK_QUERY, "variables": {"c": customer, "f": "seats"}},
        auth,
    )
    results["rest_check"] = wrk(
        f"{base}/v1/customers/{customer}/entitlements/seats?requestedUsage=1", d, c, None, auth
    )
    # A frontend's check: a client key with a customer token for that customer.
    results["graphql_check_client_token"] = wrk(
        f"{base}/graphql",
        d,
        c,
        {"query": CHECK_QUERY, "variables": {"c": customer, "f": "seats"}},
        client_with_token(base, auth, customer),
    )
    started = time.perf_counter()
    for _ in range(20):
        r = httpx.post(f"{base}/graphql", json={"query": LIST_QUERY}, headers=auth, timeout=30)
        assert r.status_code == 200 and "errors" not in r.json(), r.text[:500]
    results["list_100_ms_sequential"] = (time.perf_counter() - started) / 20 * 1000
    results["list_100"] = wrk(f"{base}/graphql", d, 4, {"query": LIST_QUERY}, auth)
    results["ratio_graphql_check_vs_b"] = (
        results["graphql_check"]["rps"] / results["floor_b_typename"]["rps"]
    )


def run_usage(
    results: dict[str, Any], base: str, key: str, customer: str, database_url: str, d: int, c: int
) -> None:
    customers = [f"cust-{i:03}" for i in range(100)]
    for name, targets in (("report_usage_hot", [customer]), ("report_usage_spread", customers)):
        run = uuid.uuid4().hex[:8]
        results[name] = usage.run_wrk_script(
            usage.wrk_script_report(key, targets, run), f"{base}/graphql", d, c, parse_wrk
        )
        # Every answered report must be recorded once (reports still in flight when wrk
        # stopped may be recorded too, unanswered).
        recorded = asyncio.run(usage.recorded(database_url, run))
        results[name]["recorded"] = recorded
        assert results[name]["requests"] <= recorded <= results[name]["requests"] + c, results
    results["report_events_1000"] = asyncio.run(usage.events_load(base, key, customers, d))
    results["floor_upsert"] = asyncio.run(usage.floor_upsert(database_url, d))
    floor_b = results["floor_b_typename"]["rps"]
    results["ratio_report_hot_vs_b"] = results["report_usage_hot"]["rps"] / floor_b
    results["ratio_report_spread_vs_b"] = results["report_usage_spread"]["rps"] / floor_b
    results["ratio_report_spread_vs_upsert"] = (
        results["report_usage_spread"]["rps"] / results["floor_upsert"]["ops"]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--suite", choices=["checks", "usage", "all"], default="all")
    args = parser.parse_args()
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        sys.exit("needs wrk and taskset (apt-get install wrk util-linux)")
    server, embedded = server_url()
    database_url = asyncio.run(fresh_database(server))
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(),
        "duration_s": args.duration,
        "connections": args.connections,
        "cpus": os.cpu_count(),
    }
    try:
        upgrade(database_url)
        key = asyncio.run(bootstrap_key(database_url))
        port = free_port()
        allot = start("app.main:app_from_env", database_url, port, factory=True)
        base = f"http://127.0.0.1:{port}"
        try:
            customer = asyncio.run(seed(base, key))
            auth = {"Authorization": f"Bearer {key}"}
            d, c = args.duration, args.connections
            results["floor_b_typename"] = wrk(
                f"{base}/graphql", d, c, {"query": "{ __typename }"}, auth
            )
            if args.suite in ("checks", "all"):
                run_checks(results, base, customer, auth, d, c)
            if args.suite in ("usage", "all"):
                run_usage(results, base, key, customer, database_url, d, c)
        finally:
            stop(allot)
        floor_m = start("bench.floor_strawberry:app", database_url, port)
        try:
            results["floor_m_strawberry"] = wrk(
                f"http://127.0.0.1:{port}/graphql",
                args.duration,
                args.connections,
                {"query": "{ __typename }"},
            )
        finally:
            stop(floor_m)
        if args.suite in ("checks", "all"):
            pk = asyncio.run(customer_pk(database_url, customer))
            floor = start("bench.floor_asyncpg:app", database_url, port)
            try:
                results["floor_a_asyncpg"] = wrk(
                    f"http://127.0.0.1:{port}/row/{pk}", args.duration, args.connections
                )
            finally:
                stop(floor)
    finally:
        asyncio.run(drop_database(database_url))
        if embedded is not None:
            embedded.stop()
    floor_m = results["floor_m_strawberry"]
    for name in (
        "graphql_check",
        "graphql_check_client_token",
        "report_usage_hot",
        "report_usage_spread",
    ):
        if name in results:
            results[f"ratio_{name}_vs_m"] = results[name]["rps"] / floor_m["rps"]
            results[f"p99_{name}_vs_m"] = results[name]["p99_ms"] / floor_m["p99_ms"]
            if "server_cpu_us" in results[name] and "server_cpu_us" in floor_m:
                # the req/s ratio the server's CPU alone allows (floor's CPU / this one's)
                results[f"cpu_{name}_vs_m"] = (
                    floor_m["server_cpu_us"] / results[name]["server_cpu_us"])
    if "rest_check" in results:
        results["ratio_rest_check_vs_a"] = (
            results["rest_check"]["rps"] / results["floor_a_asyncpg"]["rps"]
        )
    write_results(results)


if __name__ == "__main__":
    main()
