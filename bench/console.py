"""The console's pages at 100,000 customers: the server time of each GraphQL operation a page
sends (the very documents of app/web/static/console/operations.js, read by
app/web/console_documents.py), p50/p99 over N sequential runs.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        python bench/console.py [--customers 100000] [--runs 50]

Seeding reuses bench/scale.py's: the catalog and a few template customers go through GraphQL
(names, emails, subscriptions across free/pro/enterprise, trials, an add-on, billing by
invoice, usage on the metered features, a promotion), then `scale.clone` copies them in SQL
into the database `allot_bench_console` (or --database; dropped first, and at the end
unless --keep). The mix
of 100 clones: 45 free, 30 pro, 10 pro in trial, 5 pro with the add-on, 6 pro billed by
invoice, 4 enterprise billed by invoice (so about 10,000 invoices: a third paid, a tenth void).

Server time is measured at the client: one keep-alive HTTP connection on loopback, one request
at a time, from sending the request to the last byte of the response (allot sends no
Server-Timing header). The server runs pinned to CPU 0, without background jobs
(bench/run.py's settings). Results go to bench/results/console-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.store.migrate import upgrade  # noqa: E402
from app.web.console_documents import document_of  # noqa: E402
from bench import run, scale  # noqa: E402

DATABASE = "allot_bench_console"
PREFIX = "cs-"
TARGET_MS = 150.0

# Template id → (name, email, subscription fields or None for the default plan, usage).
TEMPLATES: dict[str, tuple[str, str, dict[str, Any] | None, dict[str, float]]] = {
    "tmpl-free": ("Bluebird Studio", "hello@bluebird.example", None,
                  {"seats": 3, "projects": 2, "storage-gb": 1}),
    "tmpl-pro": ("Northwind Traders", "ops@northwind.example",
                 {"planId": "pro", "skipTrial": True},
                 {"seats": 8, "storage-gb": 40, scale.HOURLY: 600}),
    "tmpl-trial": ("Contoso Labs", "admin@contoso.example", {"planId": "pro"},
                   {"seats": 6, "storage-gb": 10}),
    "tmpl-addon": ("Fabrikam Retail", "it@fabrikam.example",
                   {"planId": "pro", "skipTrial": True,
                    "addons": [{"addonId": "extended-retention"}]},
                   {"seats": 9, "storage-gb": 45}),
    "tmpl-invoice": ("Litware Systems", "finance@litware.example",
                     {"planId": "pro", "skipTrial": True,
                      "billing": {"mode": "INVOICE", "paymentTermsDays": 30}},
                     {"seats": 10, "storage-gb": 50}),
    "tmpl-enterprise": ("Tailspin Aerospace", "procurement@tailspin.example",
                        {"planId": "enterprise", "skipTrial": True,
                         "entitlements": [{"featureId": "seats", "limit": 200}],
                         "billing": {"mode": "INVOICE", "paymentTermsDays": 45},
                         "priceOverrides": [{"amount": "2500.00", "currency": "USD"}]},
                        {"seats": 150, "storage-gb": 400}),
}
# Features fed by raw events: (event name, the dimension its meter reads).
EVENT_FED = {"storage-gb": ("storage_sampled", "gigabytes")}
MIX = (["tmpl-free"] * 45 + ["tmpl-pro"] * 30 + ["tmpl-trial"] * 10 + ["tmpl-addon"] * 5
       + ["tmpl-invoice"] * 6 + ["tmpl-enterprise"] * 4)

PROVISION = (
    "mutation($i: ProvisionCustomerInput!) { provisionCustomer(input: $i) "
    "{ errors { code message } } }"
)
EVENTS = (
    "mutation($i: ReportEventsInput!) { reportEvents(input: $i) { accepted "
    "errors { code message } } }"
)
REPORT = (
    "mutation($i: ReportUsageInput!) { reportUsage(input: $i) { accepted "
    "errors { code message } } }"
)
GRANT = (
    "mutation($c: String!) { grantPromotionalEntitlements(input: {customerId: $c, "
    'grants: [{featureId: "audit-log", duration: ONE_MONTH}]}) { errors { code message } } }'
)


async def seed(client: scale.Client, database_url: str, count: int) -> None:
    out = await client.gql(scale.APPLY, {"d": scale.catalog()})
    assert out["applyCatalog"]["errors"] == [], out
    for template, (name, email, subscription, usage) in TEMPLATES.items():
        given: dict[str, Any] = {"customerId": template, "name": name, "email": email}
        if subscription is not None:
            given["subscription"] = subscription
        out = await client.gql(PROVISION, {"i": given})
        assert out["provisionCustomer"]["errors"] == [], out
        for feature, value in usage.items():
            if feature in EVENT_FED:
                event, dimension = EVENT_FED[feature]
                item = {"customerId": template, "eventName": event,
                        "idempotencyKey": f"{template}-{feature}",
                        "dimensions": {dimension: value}}
                out = await client.gql(EVENTS, {"i": {"events": [item]}})
                assert out["reportEvents"]["errors"] == [], (template, feature, out)
                continue
            item = {"customerId": template, "featureId": feature, "value": value}
            out = await client.gql(REPORT, {"i": item})
            assert out["reportUsage"]["errors"] == [], (template, feature, out)
        await client.gql(run.CHECK_QUERY, {"c": template, "f": "seats"})  # cached
    conn = await asyncpg.connect(database_url)
    try:
        await scale.clone(conn, count, MIX, PREFIX)
        # a third of the invoices paid, a tenth void (the rest open)
        await conn.execute(
            "UPDATE invoices SET status = CASE WHEN right(id, 1) IN ('0', '3', '6') THEN "
            "'PAID' WHEN right(id, 1) = '9' THEN 'VOID' ELSE status END, "
            "paid_at = CASE WHEN right(id, 1) IN ('0', '3', '6') THEN issued_at END, "
            "voided_at = CASE WHEN right(id, 1) = '9' THEN issued_at END "
            "WHERE id LIKE '%-" + PREFIX + "%'")
        # As autovacuum leaves a table some time after a bulk load: statistics, and the
        # visibility map that lets the insights read their indexes alone (migration 0020).
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def page_customer(client: scale.Client, database_url: str, customer: str) -> None:
    """The customer the customer page shows: a promotion, and a month of hourly usage."""
    out = await client.gql(GRANT, {"c": customer})
    assert out["grantPromotionalEntitlements"]["errors"] == [], out
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO usage_counters (customer_pk, environment_pk, feature_id, resource_key, "
            "period_start, period_end, value, updated_at) "
            "SELECT c.pk, c.environment_pk, $1, '', h, h + interval '1 hour', "
            "(extract(epoch FROM h)::bigint % 97), now() "
            "FROM customers c, generate_series(date_trunc('hour', now()) - interval '719 hours', "
            "date_trunc('hour', now()) - interval '1 hour', interval '1 hour') h "
            "WHERE c.id = $2 ON CONFLICT DO NOTHING", scale.HOURLY, customer)
    finally:
        await conn.close()


def page_customer_id(customers: int) -> str:
    """The customer the customer page shows: a clone of tmpl-pro (MIX[50]) in the middle."""
    return f"{PREFIX}{(customers // 2) // 100 * 100 + 50:06d}"


def scenarios(customers: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, console operation, variables): what each console page sends, as it sends it."""
    page = page_customer_id(customers)
    month_ago = (datetime.now(UTC) - timedelta(days=30)).replace(minute=0, second=0,
                                                                 microsecond=0)
    prefix = page[:-2]  # 100 customers share it
    deal = {"customerId": page, "planId": "pro", "skipTrial": True,
            "billing": {"mode": "INVOICE", "paymentTermsDays": 30}}
    return [
        ("catalog", "Catalog", {}),
        ("catalog: plan page (pro)", "PlanDetail", {"id": "pro"}),
        ("catalog: feature page (seats)", "FeatureDetail", {"id": "seats"}),
        ("catalog: product page", "ProductDetail", {"id": scale.catalog()["products"][0]["id"]}),
        ("insights: counts, trials ending (14 days), revenue", "Insights", {"withinDays": 14}),
        ("insights: limit utilization", "LimitUtilization", {}),
        ("insights: usage distribution (seats)", "UsageDistribution",
         {"featureId": "seats", "buckets": 10}),
        ("customers: first page, no search", "SearchCustomers", {"first": 25}),
        (f"customers: search id prefix {prefix!r} (100 match)", "SearchCustomers",
         {"search": prefix, "first": 25}),
        ("customers: search id, one customer", "SearchCustomers",
         {"search": page, "first": 25}),
        ("customers: search name 'wind traders 4250' (1 match)", "SearchCustomers",
         {"search": "wind traders 4250", "first": 25}),
        ("customers: search name 'northwind' (30,000 match)", "SearchCustomers",
         {"search": "northwind", "first": 25}),
        ("customers: search email 'ops+4250@north' (1 match)", "SearchCustomers",
         {"search": "ops+4250@north", "first": 25}),
        ("customers: search, no match", "SearchCustomers",
         {"search": "no-such-customer", "first": 25}),
        ("customer page", "CustomerDetail", {"id": page}),
        ("customer page: usage history, 30 days hourly", "UsageHistory",
         {"customerId": page, "featureId": scale.HOURLY, "from": month_ago.isoformat()}),
        ("provision a deal: options", "ProvisionOptions", {}),
        ("provision a deal: preview of the charges", "PreviewSubscription", {"input": deal}),
        ("invoices: first page", "Invoices", {"first": 50}),
        ("invoices: status OPEN", "Invoices", {"status": "OPEN", "first": 50}),
        ("invoices: status PAID", "Invoices", {"status": "PAID", "first": 50}),
        ("invoices: status VOID", "Invoices", {"status": "VOID", "first": 50}),
        ("audit log: first page", "AuditLog", {"first": 50}),
        ("webhooks", "Webhooks", {}),
        ("API keys", "ApiKeys", {}),
    ]


async def measure(http: httpx.AsyncClient, document: str, variables: dict[str, Any],
                  runs: int) -> dict[str, Any]:
    body = {"query": document, "variables": variables}
    started = time.perf_counter()
    first = await http.post("/graphql", json=body)
    first_ms = (time.perf_counter() - started) * 1000
    answer = first.json()
    assert "errors" not in answer, answer
    await http.post("/graphql", json=body)  # warm
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = await http.post("/graphql", json=body)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 1),
        "max_ms": round(times[-1], 1),
        "first_ms": round(first_ms, 1),  # insights: computed (later ones reused, if kept)
        "bytes": len(first.content),
    }


async def bench(base: str, key: str, database_url: str, args: Any) -> dict[str, Any]:
    results: dict[str, Any] = {}
    client = scale.Client(base, key)
    started = time.perf_counter()
    await seed(client, database_url, args.customers)
    results["seed_s"] = round(time.perf_counter() - started, 1)
    picks = scenarios(args.customers)
    await page_customer(client, database_url, page_customer_id(args.customers))
    await client.http.aclose()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"},
                                 timeout=600, limits=limits) as http:
        figures = {}
        for label, name, variables in picks:
            figures[label] = {"operation": name, "variables": variables,
                              **await measure(http, document_of(name), variables, args.runs)}
            f = figures[label]
            flag = "" if f["p99_ms"] <= TARGET_MS else "  > 150 ms"
            print(f"{label:58} first {f['first_ms']:7.1f}  p50 {f['p50_ms']:7.1f}  "
                  f"p99 {f['p99_ms']:7.1f}{flag}", flush=True)
        # The Users page is for admin users only (no API key may list users): timed through
        # an admin's console session, as the browser sends it.
        session = await admin_session(base, database_url)
    async with httpx.AsyncClient(base_url=base, headers=session, timeout=600,
                                 limits=limits) as http:
        label = "users (an admin's session)"
        figures[label] = {"operation": "Users", "variables": {},
                          **await measure(http, document_of("Users"), {}, args.runs)}
        f = figures[label]
        print(f"{label:58} first {f['first_ms']:7.1f}  p50 {f['p50_ms']:7.1f}  "
              f"p99 {f['p99_ms']:7.1f}", flush=True)
    results["operations"] = figures
    return results


async def admin_session(base: str, database_url: str) -> dict[str, str]:
    """Headers of a logged-in admin user of the bench's account (made through the domain,
    logged in through the login form): the session cookie and its CSRF token."""
    from app.auth import UserRole
    from app.clock import Clock
    from app.db import Database
    from app.domain import audit, users
    from app.domain.audit import AuditActor

    password = users.generate_password()
    db = Database(database_url)
    try:
        conn = await asyncpg.connect(database_url)
        account_pk = await conn.fetchval("SELECT account_pk FROM environments LIMIT 1")
        await conn.close()
        async with audit.transaction(db, AuditActor.cli("bench: console")) as unit:
            user = await users.create_user(unit, account_pk, "bench-admin@example.com",
                                           "Bench Admin", UserRole.ADMIN, password,
                                           Clock().now())
    finally:
        await db.close()
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        page = await http.get("/console/login")
        csrf = re.search(r'name=csrf value="([^"]+)"', page.text)
        assert csrf is not None, page.text
        answer = await http.post("/console/login", data={
            "email": user.email, "password": password, "csrf": csrf.group(1),
            "next": "/console"})
        assert answer.status_code == 303, answer.text
        cookie = f"allot_session={http.cookies['allot_session']}"
        me = await http.get("/console/session", headers={"Cookie": cookie})
        me.raise_for_status()
    return {"Cookie": cookie, "X-CSRF-Token": me.json()["csrfToken"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--database", default=DATABASE,
                        help=f"the database to seed (dropped first; default {DATABASE})")
    parser.add_argument("--insights-max-age", default="60",
                        help="ALLOT_INSIGHTS_MAX_AGE of the server (0: computed every time)")
    args = parser.parse_args()
    server, embedded = run.server_url()
    database_url = asyncio.run(run.fresh_database(server, args.database))
    results: dict[str, Any] = {"when": datetime.now(UTC).isoformat(),
                               "customers": args.customers, "runs": args.runs,
                               "insights_max_age": args.insights_max_age}
    try:
        upgrade(database_url)
        key = asyncio.run(run.bootstrap_key(database_url))
        port = run.free_port()
        allot = run.start("app.main:app_from_env", database_url, port, factory=True,
                          extra_env={"ALLOT_INSIGHTS_MAX_AGE": args.insights_max_age})
        try:
            results.update(asyncio.run(bench(f"http://127.0.0.1:{port}", key, database_url,
                                             args)))
        finally:
            run.stop(allot)
    finally:
        run.clean_up(database_url, embedded, args.keep)
    run.write_results(results, "console-")


if __name__ == "__main__":
    main()
