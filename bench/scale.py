"""Scale with the data: allot measured with 100,000 customers.

    python bench/scale.py [--customers 100000] [--duration 10]

Seeding: the demo catalog and a few template customers go through GraphQL (as in
bench/run.py); the other customers are cloned from the templates in SQL (customers, their
subscriptions and their cached entitlements, one `INSERT … SELECT` each), so 100,000 customers
take seconds, not 100,000 mutations. Every customer is on `pro` (no trial); every 100th also
holds the `extended-retention` add-on. Scenarios (the server pinned to CPU 0, wrk to CPU 1):

  (a) reportEvents, batches of 1,000 events, each batch spanning 1,000 distinct customers;
  (b) checks on random customers (wrk, 32 connections): p50/p99 before a publish, the
      publish itself (applyCatalog changing the add-on), and the checks right after it;
  (c) `customers(first: 20)` with and without `totalCount` (sequential means);
  (d) `usageHistory` over 8,760 hourly periods (a feature with an hourly reset, granted to
      one customer by a subscription started a year ago).
Results go to bench/results/scale-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.store.migrate import upgrade  # noqa: E402
from bench import run, usage  # noqa: E402

PREFIX = "sc-"
HOURLY = "hourly-calls"
APPLY = "mutation($d: JSON!) { applyCatalog(input: {catalog: $d}) { errors { code message } } }"
PROVISION = (
    "mutation($i: ProvisionCustomerInput!) { provisionCustomer(input: $i) "
    "{ errors { code message } } }"
)
PAGE_WITH_TOTAL = "{ customers(first: 20) { totalCount edges { node { id } } } }"
PAGE_WITHOUT_TOTAL = "{ customers(first: 20) { edges { node { id } } pageInfo { hasNextPage } } }"
HISTORY = (
    "query($c: String!, $f: String!, $from: DateTime!) { usageHistory(customerId: $c, "
    "featureId: $f, from: $from) { periodStart periodEnd usage } }"
)


def catalog() -> dict[str, Any]:
    """The demo catalog plus a metered feature that resets every hour (for usageHistory)."""
    doc: dict[str, Any] = yaml.safe_load((ROOT / "app" / "cli" / "demo_catalog.yaml").read_text())
    doc["features"].append({"id": HOURLY, "name": "Hourly calls", "type": "METERED"})
    pro = next(p for p in doc["products"][0]["plans"] if p["id"] == "pro")
    pro["entitlements"][HOURLY] = {"limit": 1000, "resetPeriod": "HOUR"}
    return doc


def republished(doc: dict[str, Any]) -> dict[str, Any]:
    """The catalog with the extended-retention add-on changed (one new add-on version)."""
    out = copy.deepcopy(doc)
    addon = next(a for a in out["products"][0]["addons"] if a["id"] == "extended-retention")
    addon["entitlements"]["retention-days"]["value"] += 1
    return out


class Client:
    def __init__(self, base: str, key: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=600
        )

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        r = await self.http.post("/graphql", json={"query": query, "variables": variables})
        body = r.json()
        assert "errors" not in body, body
        return body["data"]

    async def provision(self, customer_id: str, **subscription: Any) -> None:
        out = await self.gql(
            PROVISION,
            {
                "i": {
                    "customerId": customer_id,
                    "subscription": {"planId": "pro", "skipTrial": True, **subscription},
                }
            },
        )
        assert out["provisionCustomer"]["errors"] == [], out


async def seed(client: Client, database_url: str, count: int) -> None:
    out = await client.gql(APPLY, {"d": catalog()})
    assert out["applyCatalog"]["errors"] == [], out
    await client.provision("tmpl-plain")
    await client.provision("tmpl-addon", addons=[{"addonId": "extended-retention"}])
    year_ago = datetime.now(UTC) - timedelta(days=365) + timedelta(minutes=5)
    await client.provision("hist", startDate=year_ago.isoformat())
    for t in ("tmpl-plain", "tmpl-addon"):  # their cached entitlements are computed
        await client.gql(run.CHECK_QUERY, {"c": t, "f": "seats"})
    conn = await asyncpg.connect(database_url)
    try:
        await clone(conn, count)
    finally:
        await conn.close()


CLONE_SQL = """
CREATE TEMP TABLE clones AS
SELECT gen_random_uuid() AS pk, $1 || lpad(n::text, 6, '0') AS id, n,
       ($3::text[])[1 + n % array_length($3::text[], 1)] AS template
FROM generate_series(0, $2 - 1) n;

INSERT INTO customers (pk, environment_pk, id, name, email, metadata_, archived_at,
                       created_at, updated_at, billing_details)
SELECT k.pk, c.environment_pk, k.id, c.name || ' ' || k.n,
       replace(c.email, '@', '+' || k.n || '@'), c.metadata_, NULL, c.created_at,
       c.updated_at, c.billing_details
FROM clones k JOIN customers c ON c.id = k.template;

INSERT INTO subscriptions
SELECT gen_random_uuid(), s.environment_pk, s.id || '-' || k.id, k.pk, s.product_pk,
       s.plan_pk, s.plan_version, s.resource_id, s.status, s.billing_period, s.start_date,
       s.end_date, s.trial_end_date, s.trial_end_behavior, s.is_parallel_trial, NULL,
       s.addons, s.entitlements, s.price_overrides, s.scheduled_change, s.billing_mode,
       s.payment_terms_days, s.metadata_, s.canceled_at, s.created_at, s.updated_at,
       s.trial_ending_notified_at, NULL
FROM clones k JOIN customers c ON c.id = k.template JOIN subscriptions s ON s.customer_pk = c.pk;

INSERT INTO customer_entitlements (customer_pk, environment_pk,
                                   has_active_subscription, valid_until, computed_at)
SELECT k.pk, e.environment_pk, e.has_active_subscription, e.valid_until, e.computed_at
FROM clones k JOIN customers c ON c.id = k.template
JOIN customer_entitlements e ON e.customer_pk = c.pk;

INSERT INTO customer_feature_entitlements (customer_pk, feature_id, entitlement, environment_pk)
SELECT k.pk, e.feature_id, e.entitlement, e.environment_pk
FROM clones k JOIN customers c ON c.id = k.template
JOIN customer_feature_entitlements e ON e.customer_pk = c.pk;

-- the templates' usage, spread over 0 to 1.2 times theirs (the same periods: the clones'
-- subscriptions start with their template's)
INSERT INTO usage_counters (customer_pk, feature_id, resource_key, period_start, period_end,
                            environment_pk, value, last_event_at, updated_at)
SELECT k.pk, u.feature_id, u.resource_key, u.period_start, u.period_end, u.environment_pk,
       round(u.value * ((k.n * 7919) % 121) / 100.0), u.last_event_at, u.updated_at
FROM clones k JOIN customers c ON c.id = k.template
JOIN usage_counters u ON u.customer_pk = c.pk;

-- the templates' invoices, issued over the 90 days before theirs
INSERT INTO invoices (pk, environment_pk, id, customer_pk, subscription_pk, status, kind,
                      currency, total, lines, period_start, period_end, issued_at, due_date,
                      paid_at, voided_at, overdue_at, issuer, bill_to, payment_terms_days,
                      created_at, updated_at)
SELECT gen_random_uuid(), i.environment_pk, i.id || '-' || k.id, k.pk, cs.pk, i.status, i.kind,
       i.currency, i.total, i.lines, i.period_start, i.period_end,
       i.issued_at - (k.n % 90) * interval '1 day', i.due_date - (k.n % 90) * interval '1 day',
       i.paid_at, i.voided_at, i.overdue_at, i.issuer, i.bill_to, i.payment_terms_days,
       i.created_at, i.updated_at
FROM clones k JOIN customers c ON c.id = k.template
JOIN invoices i ON i.customer_pk = c.pk
JOIN subscriptions s ON s.pk = i.subscription_pk
JOIN subscriptions cs ON cs.id = s.id || '-' || k.id AND cs.environment_pk = s.environment_pk;
"""

# scale.py's mix: every 100th clone holds the add-on.
SCALE_TEMPLATES = ["tmpl-addon"] + ["tmpl-plain"] * 99


async def clone(conn: asyncpg.Connection, count: int,
                templates: list[str] | None = None, prefix: str = PREFIX) -> None:
    """`count` customers cloned in SQL from template customers made through GraphQL: the
    n-th from `templates[n % len(templates)]`, with its subscriptions, cached entitlements,
    usage counters and invoices. Shared by bench/scale.py and bench/console.py."""
    columns = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = "
        "'subscriptions' ORDER BY ordinal_position"
    )
    assert len(columns) == 28, "subscriptions changed: update CLONE_SQL"
    async with conn.transaction():
        for statement in CLONE_SQL.split(";\n"):
            if statement.strip():
                if "$1" in statement:
                    await conn.execute(statement, prefix, count, templates or SCALE_TEMPLATES)
                else:
                    await conn.execute(statement)
    await conn.execute("ANALYZE")


def check_script(key: str, count: int) -> str:
    """wrk: one check a request on a random customer among the clones."""
    query = json.dumps(run.CHECK_QUERY)
    return f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
math.randomseed(os.time())
request = function()
  local c = string.format("{PREFIX}%06d", math.random(0, {count - 1}))
  local body = string.format('{{"query": %s, "variables": {{"c": "%s", "f": "seats"}}}}',
    {json.dumps(query)}, c)
  return wrk.format(nil, nil, nil, body)
end
"""


async def mean_ms(
    client: Client, query: str, times: int, variables: dict[str, Any] | None = None
) -> float:
    await client.gql(query, variables)  # warm: the document is parsed once
    started = time.perf_counter()
    for _ in range(times):
        await client.gql(query, variables)
    return (time.perf_counter() - started) / times * 1000


async def history(client: Client, database_url: str) -> dict[str, float]:
    conn = await asyncpg.connect(database_url)
    try:
        # a counter in every other hour of the year, as a busy customer would have
        await conn.execute(
            "INSERT INTO usage_counters (customer_pk, environment_pk, feature_id, resource_key, "
            "period_start, period_end, value, updated_at) "
            "SELECT c.pk, c.environment_pk, $1, '', h, h + interval '1 hour', 1, now() "
            "FROM customers c, generate_series(date_trunc('hour', now()) - interval '8759 hours', "
            "date_trunc('hour', now()), interval '2 hours') h "
            "WHERE c.id = 'hist'",
            HOURLY,
        )
    finally:
        await conn.close()
    start = (datetime.now(UTC) - timedelta(hours=8759)).replace(minute=0, second=0, microsecond=0)
    variables = {"c": "hist", "f": HOURLY, "from": start.isoformat()}
    periods = len((await client.gql(HISTORY, variables))["usageHistory"])
    r = await client.http.post("/graphql", json={"query": HISTORY, "variables": variables})
    return {
        "periods": periods,
        "bytes": len(r.content),
        "mean_ms": await mean_ms(client, HISTORY, 10, variables),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the database (printed)")
    parser.add_argument("--only-seed", action="store_true", help="seed, measure nothing")
    args = parser.parse_args()
    server, embedded = run.server_url()
    database_url = asyncio.run(run.fresh_database(server))
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(),
        "customers": args.customers,
        "duration_s": args.duration,
    }
    try:
        upgrade(database_url)
        key = asyncio.run(run.bootstrap_key(database_url))
        port = run.free_port()
        allot = run.start("app.main:app_from_env", database_url, port, factory=True)
        base = f"http://127.0.0.1:{port}"
        try:
            results.update(asyncio.run(scenarios(base, key, database_url, args)))
        finally:
            run.stop(allot)
    finally:
        run.clean_up(database_url, embedded, args.keep)
    run.write_results(results, "scale-")


async def scenarios(base: str, key: str, database_url: str, args: Any) -> dict[str, Any]:
    results: dict[str, Any] = {}
    client = Client(base, key)
    started = time.perf_counter()
    await seed(client, database_url, args.customers)
    results["seed_s"] = time.perf_counter() - started
    if args.only_seed:
        return results
    ids = [f"{PREFIX}{n:06d}" for n in range(args.customers)]
    # (a) consecutive events of a batch go to consecutive customers: 1,000 distinct a batch
    results["report_events_1000_distinct"] = await usage.events_load(base, key, ids, args.duration)
    # (c) listing pages
    results["page_20_with_total_ms"] = await mean_ms(client, PAGE_WITH_TOTAL, 20)
    results["page_20_without_total_ms"] = await mean_ms(client, PAGE_WITHOUT_TOTAL, 20)
    # (d) usage history
    results["usage_history_8760"] = await history(client, database_url)
    # (b) checks before and right after a publish
    script = check_script(key, args.customers)
    d, c = args.duration, 32
    url = f"{base}/graphql"
    results["check_random_before"] = await asyncio.to_thread(
        usage.run_wrk_script, script, url, d, c, run.parse_wrk
    )
    t0 = time.perf_counter()
    out = await client.gql(APPLY, {"d": republished(catalog())})
    results["publish_ms"] = (time.perf_counter() - t0) * 1000
    assert out["applyCatalog"]["errors"] == [], out
    results["check_random_after_publish"] = await asyncio.to_thread(
        usage.run_wrk_script, script, url, d, c, run.parse_wrk
    )
    results["check_random_later"] = await asyncio.to_thread(
        usage.run_wrk_script, script, url, d, c, run.parse_wrk
    )
    await client.http.aclose()
    return results


if __name__ == "__main__":
    main()
