"""Backdating (issue 9): a start date older than ALLOT_MAX_BACKDATE_DAYS is INVALID_INPUT;
an invoice-billed subscription that starts in the past is invoiced from the period in progress
on, never for the periods already over (on `main` a start on 1900-01-01 issued 1,524 invoices
and queued ~48,000 webhook deliveries)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.clock import FrozenClock
from tests.graphql.billing.catalog import PROVISION, invoiced, invoices_of, new_customer
from tests.graphql.billing.conftest import START, Job
from tests.support import GraphQLClient

DAY = timedelta(days=1)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def provision(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    fields.setdefault("billing", {"mode": "INVOICE", "paymentTermsDays": 30})
    return await gql.mutate(  # type: ignore[no-any-return]
        PROVISION, {"input": {"customerId": "acme", "planId": "team", **fields}}
    )


async def test_a_start_older_than_the_bound_is_invalid_input(bgql: GraphQLClient) -> None:
    await new_customer(bgql, "acme")
    for start in ("1970-01-01T00:00:00+00:00", (START - 366 * DAY).isoformat()):
        payload = await provision(bgql, subscriptionId="old", startDate=start)
        assert payload["subscription"] is None
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("INVALID_INPUT", ["startDate"])
        ], payload["errors"]
    preview = await bgql.mutate(
        """mutation($input: ProvisionSubscriptionInput!) { previewSubscription(input: $input) {
        total errors { code field } } }""",
        {"input": {"customerId": "acme", "planId": "team", "startDate": "2000-01-01T00:00:00Z"}},
    )
    assert [(e["code"], e["field"]) for e in preview["errors"]] == [
        ("INVALID_INPUT", ["startDate"])
    ]


async def test_a_backdated_subscription_is_invoiced_for_the_period_in_progress_only(
    bgql: GraphQLClient, clock: FrozenClock, run_job: Job
) -> None:
    await new_customer(bgql, "acme")
    start = START - 365 * DAY  # 2024-02-01 09:00: eleven monthly periods are over
    sub = await invoiced(
        bgql, "acme", planId="team", subscriptionId="back", startDate=start.isoformat()
    )
    (first,) = sub["invoices"]
    assert at(first["periodStart"]) == datetime(2025, 1, 1, 9, tzinfo=UTC)
    assert at(first["periodEnd"]) == datetime(2025, 2, 1, 9, tzinfo=UTC)
    assert at(first["issuedAt"]) == START
    assert all(line["kind"] != "USAGE" for line in first["lines"])
    await run_job()
    assert len(await invoices_of(bgql, "back")) == 1  # the job does not catch up either
    clock.set(datetime(2025, 2, 1, 9, tzinfo=UTC))  # the next renewal: billed as usual
    await run_job()
    renewal, again = await invoices_of(bgql, "back")
    assert again["id"] == first["id"]
    assert at(renewal["periodStart"]) == datetime(2025, 2, 1, 9, tzinfo=UTC)


async def test_a_start_within_the_first_period_is_invoiced_from_its_start(
    bgql: GraphQLClient,
) -> None:
    await new_customer(bgql, "acme")
    start = START - 10 * DAY
    sub = await invoiced(
        bgql, "acme", planId="team", subscriptionId="recent", startDate=start.isoformat()
    )
    (first,) = sub["invoices"]
    assert at(first["periodStart"]) == start
