"""The domain emits webhook events in the transaction of each change (subscriptions,
trials, usage thresholds, entitlements)."""

from __future__ import annotations

from typing import Any

from app.clock import FrozenClock
from app.db import Database
from app.workers.jobs import emit_notifications
from tests.graphql.entitlements.catalog import apply_catalog, new_customer, provision
from tests.support import GraphQLClient, Tenant

ENDPOINT = """mutation { createWebhookEndpoint(input: {url: "http://127.0.0.1:9/hook"})
  { errors { code message } } }"""
REPORT = """mutation($i: ReportUsageInput!) { reportUsage(input: $i) { accepted } }"""


async def _events(db: Database, tenant: Tenant) -> list[tuple[str, dict[str, Any]]]:
    pool = await db.pool()
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT type, data FROM webhook_events WHERE environment_pk = $1"
                                " ORDER BY occurred_at, type", tenant.environments["development"])
    return [(r["type"], r["data"]) for r in rows]


async def test_subscription_lifecycle_emits_events(gql: GraphQLClient, db: Database,
                                                   tenant: Tenant) -> None:
    assert (await gql.mutate(ENDPOINT))["errors"] == []
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    # A trial of pro from free runs beside the free subscription (docs/subscriptions.md).
    await provision(gql, customerId="acme", planId="pro")
    events = await _events(db, tenant)
    created = [d["subscription"]["planId"] for t, d in events if t == "subscription.created"]
    assert created == ["free", "pro"]
    assert [d["subscription"]["planId"] for t, d in events if t == "trial.started"] == ["pro"]
    assert [t for t, _ in events].count("entitlements.changed") == 2
    payload = await provision(gql, customerId="acme", planId="pro", skipTrial=True)
    assert payload["errors"] == [], payload
    await gql.mutate("mutation($i: CancelSubscriptionInput!) { cancelSubscription(input: $i) "
                     "{ errors { code } } }",
                     {"i": {"subscriptionId": payload["subscription"]["id"]}})
    types = [t for t, _ in await _events(db, tenant)]
    assert "subscription.updated" in types and "subscription.canceled" in types


async def test_threshold_crossings_are_emitted_once(gql: GraphQLClient, db: Database,
                                                    tenant: Tenant) -> None:
    assert (await gql.mutate(ENDPOINT))["errors"] == []
    await apply_catalog(gql)
    await new_customer(gql, "acme")  # free: seats limit 3
    for _ in range(3):
        await gql.mutate(REPORT, {"i": {"customerId": "acme", "featureId": "seats",
                                        "value": 1}})
    clock = FrozenClock(__import__("datetime").datetime.now(__import__("datetime").UTC))
    await emit_notifications(db, clock)
    await emit_notifications(db, clock)
    crossed = [d for t, d in await _events(db, tenant) if t == "usage.threshold_crossed"]
    assert sorted(d["threshold"] for d in crossed) == [80, 100]
    assert all(d["customerId"] == "acme" and d["usageLimit"] == 3 for d in crossed)


async def test_invoice_events(gql: GraphQLClient, db: Database, tenant: Tenant) -> None:
    assert (await gql.mutate(ENDPOINT))["errors"] == []
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    payload = await provision(gql, customerId="acme", planId="pro", skipTrial=True,
                              billing={"mode": "INVOICE", "paymentTermsDays": 14})
    assert payload["errors"] == [], payload
    created = [d["invoice"] for t, d in await _events(db, tenant) if t == "invoice.created"]
    assert len(created) == 1 and created[0]["total"] == "49.00"
    assert created[0]["customerId"] == "acme" and created[0]["status"] == "OPEN"
    paid = await gql.mutate("mutation($i: MarkInvoicePaidInput!) { markInvoicePaid(input: $i) "
                            "{ errors { code } } }", {"i": {"invoiceId": created[0]["id"]}})
    assert paid["errors"] == []
    events = [d["invoice"] for t, d in await _events(db, tenant) if t == "invoice.paid"]
    assert [e["id"] for e in events] == [created[0]["id"]] and events[0]["paidAt"]
