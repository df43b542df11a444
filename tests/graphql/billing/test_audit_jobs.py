"""The billing job's changes are audited as actor `system`, operation `jobs.billing`:
the invoices it issues, the invoice sequence it takes, the overdue invoices and the
subscriptions they cancel."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.clock import FrozenClock
from tests.graphql.billing.catalog import invoiced
from tests.graphql.billing.conftest import Job
from tests.graphql.entitlements.catalog import new_customer
from tests.support import GraphQLClient

LOG = """query($op: String) { auditLog(first: 100, operation: $op) { edges { node {
  operation entityType entityId action actorKind actorKeyId before after } } } }"""
FEB_28 = datetime(2025, 2, 28, 9, 0, tzinfo=UTC)


async def entries(gql: GraphQLClient, operation: str) -> list[dict[str, Any]]:
    data = await gql.execute(LOG, {"op": operation})
    return [e["node"] for e in data["auditLog"]["edges"]]


async def test_billing_job_changes_are_the_system_actor(
    bgql: GraphQLClient, clock: FrozenClock, run_job: Job
) -> None:
    # acme's first invoice is overdue at the renewal (14 days); beta's is not (30 days).
    for customer, terms in (("acme", 14), ("beta", 30)):
        await new_customer(bgql, customer)
        await invoiced(
            bgql,
            customer,
            planId="team",
            subscriptionId=f"sub-{customer}",
            billing={"mode": "INVOICE", "paymentTermsDays": terms},
        )
    clock.set(FEB_28)
    assert await run_job() > 0
    billed = await entries(bgql, "jobs.billing")
    assert billed and all(e["actorKind"] == "system" and e["actorKeyId"] is None for e in billed)
    issued = [e for e in billed if e["entityType"] == "INVOICE" and e["action"] == "CREATE"]
    assert [(e["after"]["subscriptionId"], e["after"]["customerId"]) for e in issued] == [
        ("sub-beta", "beta")
    ]
    sequence = [e for e in billed if e["entityType"] == "BILLING_SETTINGS"]
    assert [
        (e["before"]["nextInvoiceNumber"], e["after"]["nextInvoiceNumber"]) for e in sequence
    ] == [(3, 4)]
    (overdue,) = [e for e in billed if e["entityType"] == "INVOICE" and e["action"] == "UPDATE"]
    assert overdue["before"]["isOverdue"] is False and overdue["after"]["isOverdue"] is True
    assert overdue["after"]["subscriptionId"] == "sub-acme"
    (canceled,) = [e for e in billed if e["entityType"] == "SUBSCRIPTION"]
    assert canceled["entityId"] == "sub-acme" and canceled["after"]["status"] == "CANCELED"
