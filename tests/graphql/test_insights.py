"""`Query.insights`: each number against a direct count of the seeded environment (the statuses
computed by the domain's own `status_at`, the limits and usage read by the checks), scoped to
the caller's environment, refused to client keys, and a fixed number of SQL statements
whatever the number of customers."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from app.db import Database
from app.domain.subscriptions.dates import LIVE, Dates, status_at
from app.models import Subscription
from tests.graphql.entitlements.catalog import CATALOG, apply_catalog, new_customer
from tests.graphql.usage.helpers import reported
from tests.support import GraphQLClient, Tenant

INSIGHTS = """query($days: Int, $feature: String!, $buckets: Int) { insights {
  customersPerPlan { plan { id name } customers }
  customersPerStatus { status customers }
  trialsEndingSoon(withinDays: $days) { id customerId planId status trialEndDate }
  limitUtilization { feature { id type } customersWithLimit atLeast80Percent
                     atLeast100Percent }
  usageDistribution(featureId: $feature, buckets: $buckets) { from to customers }
  revenueByPlan { plan { id } currency amount invoices }
} }"""

CANCEL = """mutation($i: CancelSubscriptionInput!) { cancelSubscription(input: $i) {
  errors { code } } }"""
ARCHIVE = (
    """mutation($i: ArchiveCustomerInput!) { archiveCustomer(input: $i) { errors { code } } }"""
)
PAID = """mutation($i: MarkInvoicePaidInput!) { markInvoicePaid(input: $i) { errors { code } } }"""
VOID = """mutation($i: VoidInvoiceInput!) { voidInvoice(input: $i) { errors { code } } }"""
INVOICES = """query($c: String!) { invoices(customerId: $c) { edges { node { id } } } }"""

PRO = {"planId": "pro", "skipTrial": True}
BY_INVOICE = {**PRO, "billing": {"mode": "INVOICE", "paymentTermsDays": 30}}


async def _invoice_of(gql: GraphQLClient, customer: str) -> str:
    edges = (await gql.execute(INVOICES, {"c": customer}))["invoices"]["edges"]
    assert edges, customer
    return str(edges[0]["node"]["id"])


async def seed(gql: GraphQLClient) -> None:
    """Pro customers (some near their seat limit, three billed by invoice: one open, one
    paid, one void), trials ending in 3 and 10 days, free customers, a canceled one (back on
    free), an archived one."""
    await apply_catalog(gql, CATALOG)
    for c in ("p1", "p2", "p3", "p4"):
        sub = BY_INVOICE if c in ("p1", "p3", "p4") else PRO
        await new_customer(gql, c, subscription=sub)
    for c, days in (("t1", 3), ("t2", 3), ("t3", 10)):
        await new_customer(gql, c, subscription={"planId": "pro", "trial": {"days": days}})
    for c in ("f1", "f2"):
        await new_customer(gql, c)  # the default plan, free
    canceled = await new_customer(gql, "c1", subscription=PRO)
    await gql.mutate(CANCEL, {"i": {"subscriptionId": canceled["subscription"]["id"]}})
    await new_customer(gql, "x1", subscription=PRO)
    await reported(gql, "x1", "seats", 10)
    assert (await gql.mutate(ARCHIVE, {"i": {"customerId": "x1"}}))["errors"] == []
    for c, seats in (("p1", 8), ("p2", 10), ("p3", 5), ("f1", 3), ("t1", 9)):
        await reported(gql, c, "seats", seats)
    paid = await gql.mutate(PAID, {"i": {"invoiceId": await _invoice_of(gql, "p4")}})
    assert paid["errors"] == []
    voided = await gql.mutate(VOID, {"i": {"invoiceId": await _invoice_of(gql, "p3")}})
    assert voided["errors"] == []


async def seed_elsewhere(gql: GraphQLClient) -> None:
    """The other environment: the same ids, other numbers (never counted above)."""
    await apply_catalog(gql, CATALOG)
    for c in ("p1", "p2", "t1", "o1", "o2"):
        await new_customer(gql, c, subscription=BY_INVOICE)
        await reported(gql, c, "seats", 10)


async def _subscriptions(db: Database, env: Any) -> list[tuple[Subscription, str, bool]]:
    """Every subscription of the environment, with its plan's id and whether its customer is
    archived: read straight from the tables."""
    async with db.session() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT s.pk, p.id AS plan_id, c.archived_at IS NOT NULL AS archived "
                    "FROM subscriptions s JOIN packages p ON p.pk = s.plan_pk "
                    "JOIN customers c ON c.pk = s.customer_pk WHERE s.environment_pk = :env"
                ),
                {"env": env},
            )
        ).all()
        out = []
        for r in rows:
            sub = await session.get(Subscription, r.pk)
            assert sub is not None
            out.append((sub, r.plan_id, r.archived))
    return out


@pytest.fixture
async def seeded(gql: GraphQLClient, tenant: Tenant) -> dict[str, Any]:
    await seed(gql)
    await seed_elsewhere(gql.with_key(tenant.server_keys["production"]))
    data = await gql.execute(INSIGHTS, {"days": 7, "feature": "seats", "buckets": 5})
    return data["insights"]  # type: ignore[no-any-return]


async def test_customers_per_plan_and_status(
    seeded: dict[str, Any], db: Database, tenant: Tenant
) -> None:
    now = datetime.now(UTC)
    subs = [
        (s, p)
        for s, p, archived in await _subscriptions(db, tenant.environments["development"])
        if not archived
    ]
    live: dict[str, set[Any]] = {}
    statuses: dict[str, set[Any]] = {}
    for sub, plan_id in subs:
        status = status_at(Dates.of(sub), now)
        statuses.setdefault(status.value, set()).add(sub.customer_pk)
        if status in LIVE:
            live.setdefault(plan_id, set()).add(sub.customer_pk)
    per_plan = {r["plan"]["id"]: r["customers"] for r in seeded["customersPerPlan"]}
    assert per_plan == {p: len(live.get(p, set())) for p in per_plan}
    assert set(live) <= set(per_plan)
    # 4 paid and 3 trials on pro; 2 free, and the canceled one fell back to free
    assert per_plan["pro"] == 7 and per_plan["free"] == 3 and per_plan["enterprise"] == 0
    counts = [r["customers"] for r in seeded["customersPerPlan"]]
    assert counts == sorted(counts, reverse=True)
    assert seeded["customersPerPlan"][0]["plan"]["name"]
    per_status = {r["status"]: r["customers"] for r in seeded["customersPerStatus"]}
    assert per_status == {s: len(statuses.get(s, set())) for s in per_status}
    assert per_status["IN_TRIAL"] == 3 and per_status["CANCELED"] == 1
    assert per_status["ACTIVE"] == 4 + 3  # p1-p4; f1, f2 and c1 on free


async def test_trials_ending_soon(seeded: dict[str, Any], gql: GraphQLClient) -> None:
    ending = seeded["trialsEndingSoon"]
    assert sorted(t["customerId"] for t in ending) == ["t1", "t2"]
    assert all(t["status"] == "IN_TRIAL" and t["planId"] == "pro" for t in ending)
    ends = [t["trialEndDate"] for t in ending]
    assert ends == sorted(ends)
    later = await gql.execute(
        "{ insights { trialsEndingSoon(withinDays: 14, first: 2) { customerId } } }"
    )
    assert len(later["insights"]["trialsEndingSoon"]) == 2
    every = await gql.execute("{ insights { trialsEndingSoon(withinDays: 14) { customerId } } }")
    assert sorted(t["customerId"] for t in every["insights"]["trialsEndingSoon"]) == [
        "t1",
        "t2",
        "t3",
    ]


async def test_limit_utilization_matches_the_checks(
    seeded: dict[str, Any], gql: GraphQLClient, db: Database, tenant: Tenant
) -> None:
    """Each customer's limit and current usage as its own entitlement check answers them."""
    ids = ["p1", "p2", "p3", "p4", "t1", "t2", "t3", "f1", "f2", "c1"]
    expected: dict[str, Counter[str]] = {}
    for feature in ("seats", "api-calls"):
        tally: Counter[str] = Counter()
        for c in ids:
            answer = (
                await gql.execute(
                    "query($c: String!, $f: String!) { entitlement(customerId: $c, featureId: $f) "
                    "{ hasAccess isUnlimited usageLimit currentUsage denyReason } }",
                    {"c": c, "f": feature},
                )
            )["entitlement"]
            if answer["usageLimit"] is None or answer["isUnlimited"]:
                continue
            tally["with"] += 1
            tally["80"] += answer["currentUsage"] >= 0.8 * answer["usageLimit"]
            tally["100"] += answer["currentUsage"] >= answer["usageLimit"]
        expected[feature] = tally
    found = {r["feature"]["id"]: r for r in seeded["limitUtilization"]}
    assert set(found) == {"seats", "api-calls"}  # every metered feature
    for feature, tally in expected.items():
        row = found[feature]
        assert (row["customersWithLimit"], row["atLeast80Percent"], row["atLeast100Percent"]) == (
            tally["with"],
            tally["80"],
            tally["100"],
        ), feature
    # p1 (8/10), p2 (10/10), f1 (3/3), t1 (9/10) at 80 %; p2 and f1 at 100 %
    assert (
        found["seats"]["customersWithLimit"],
        found["seats"]["atLeast80Percent"],
        found["seats"]["atLeast100Percent"],
    ) == (10, 4, 2)
    # the same from the tables: granted seats rows with a limit, in this environment
    async with db.session() as session:
        direct = (
            await session.execute(
                text(
                    "SELECT count(*) FROM customer_feature_entitlements fe "
                    "JOIN customers c ON c.pk = fe.customer_pk "
                    "WHERE c.environment_pk = :env AND c.archived_at IS NULL "
                    "AND fe.feature_id = 'seats' AND (fe.entitlement->>'granted')::boolean "
                    "AND fe.entitlement->>'usage_limit' IS NOT NULL"
                ),
                {"env": tenant.environments["development"]},
            )
        ).scalar_one()
    assert direct == found["seats"]["customersWithLimit"]


async def test_usage_distribution(seeded: dict[str, Any], gql: GraphQLClient) -> None:
    buckets = seeded["usageDistribution"]
    assert [(b["from"], b["to"]) for b in buckets] == [
        (0.0, 2.0),
        (2.0, 4.0),
        (4.0, 6.0),
        (6.0, 8.0),
        (8.0, 10.0),
    ]
    # 0: p4, t2, t3, f2, c1; 3: f1; 5: p3; 8, 9, 10: p1, t1, p2 (the last bucket holds 10)
    assert [b["customers"] for b in buckets] == [5, 1, 1, 0, 3]
    one = await gql.execute(
        '{ insights { usageDistribution(featureId: "api-calls", '
        "buckets: 3) { from to customers } } }"
    )
    assert one["insights"]["usageDistribution"] == [{"from": 0.0, "to": 0.0, "customers": 10}]


async def test_revenue_by_plan(
    seeded: dict[str, Any], gql: GraphQLClient, db: Database, tenant: Tenant
) -> None:
    async with db.session() as session:
        rows = (
            await session.execute(
                text("SELECT status, total, currency FROM invoices WHERE environment_pk = :env"),
                {"env": tenant.environments["development"]},
            )
        ).all()
    counted = [r for r in rows if r.status in ("OPEN", "PAID")]
    assert len(counted) == 2 and len(rows) == 3  # p1 open, p4 paid, p3 void
    (revenue,) = seeded["revenueByPlan"]
    assert revenue["plan"]["id"] == "pro" and revenue["currency"] == "USD"
    assert Decimal(revenue["amount"]) == sum(r.total for r in counted)
    assert revenue["invoices"] == 2
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    none = await gql.execute(
        "query($f: DateTime) { insights { revenueByPlan(from: $f) { amount } } }", {"f": future}
    )
    assert none["insights"]["revenueByPlan"] == []


async def test_a_client_key_is_refused(gql: GraphQLClient, tenant: Tenant) -> None:
    body = (
        await gql.with_key(tenant.client_key).post(
            "{ insights { customersPerStatus { customers } } }"
        )
    ).json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ('usageDistribution(featureId: "nope") { customers }', "FEATURE_NOT_FOUND"),
        ('usageDistribution(featureId: "sso") { customers }', "INVALID_INPUT"),
        ('usageDistribution(featureId: "seats", buckets: 0) { customers }', "INVALID_INPUT"),
        ("trialsEndingSoon(withinDays: -1) { id }", "INVALID_INPUT"),
        ("trialsEndingSoon(first: 1000) { id }", "INVALID_INPUT"),
        (
            'revenueByPlan(from: "2026-02-01T00:00:00Z", to: "2026-01-01T00:00:00Z") { amount }',
            "INVALID_INPUT",
        ),
    ],
)
async def test_bad_arguments_are_client_errors(
    gql: GraphQLClient, arguments: str, code: str
) -> None:
    await apply_catalog(gql, CATALOG)
    body = (await gql.post(f"{{ insights {{ {arguments} }} }}")).json()
    assert body["errors"][0]["extensions"]["code"] == code, body


async def test_a_catalog_without_customers(gql: GraphQLClient) -> None:
    await apply_catalog(gql, CATALOG)
    data = (await gql.execute(INSIGHTS, {"feature": "seats"}))["insights"]
    assert {r["customers"] for r in data["customersPerPlan"]} == {0}
    assert {r["plan"]["id"] for r in data["customersPerPlan"]} == {
        "free",
        "pro",
        "enterprise",
        "analytics-basic",
    }
    assert {r["customers"] for r in data["customersPerStatus"]} == {0}
    assert [r["customersWithLimit"] for r in data["limitUtilization"]] == [0, 0]
    assert data["trialsEndingSoon"] == [] and data["revenueByPlan"] == []
    assert data["usageDistribution"] == []
