"""The invoice lifecycle on an injected clock: issued when the subscription starts, paid or
voided, overdue cancels, renewed at each period start exactly once, usage billed in arrears."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from app.clock import FrozenClock
from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.models import Invoice, Subscription
from tests.graphql.billing.catalog import (
    INVOICE,
    PAY,
    PROVISION,
    REPORT,
    VOID,
    invoiced,
    invoices_of,
    new_customer,
    subscription,
)
from tests.graphql.billing.conftest import START, Job, errors_of
from tests.graphql.entitlements.catalog import check
from tests.support import GraphQLClient, Tenant

DAY = timedelta(days=1)
FEB_28 = datetime(2025, 2, 28, 9, 0, tzinfo=UTC)
MAR_31 = datetime(2025, 3, 31, 9, 0, tzinfo=UTC)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def line_amounts(invoice: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(ln["kind"], ln["quantity"], ln["unitAmount"], ln["amount"]) for ln in invoice["lines"]]


async def team_deal(gql: GraphQLClient, terms: int = 14) -> dict[str, Any]:
    await new_customer(gql, "acme")
    return await invoiced(
        gql,
        "acme",
        planId="team",
        subscriptionId="sub-team",
        addons=[{"addonId": "extra-seats", "quantity": 2}],
        billing={"mode": "INVOICE", "paymentTermsDays": terms},
    )


async def test_first_invoice_is_issued_when_the_subscription_starts(bgql: GraphQLClient) -> None:
    sub = await team_deal(bgql)
    assert sub["status"] == "ACTIVE" and sub["billingMode"] == "INVOICE"
    (invoice,) = sub["invoices"]
    assert invoice["id"] == "ALT-00001"
    assert invoice["status"] == "OPEN" and invoice["currency"] == "USD"
    assert at(invoice["issuedAt"]) == START
    assert at(invoice["dueDate"]) == START + 14 * DAY
    assert invoice["paymentTermsDays"] == 14 and not invoice["isOverdue"]
    assert at(invoice["periodStart"]) == START and at(invoice["periodEnd"]) == FEB_28
    # 20.00 flat + 5 seats x 10.00 (the plan's limit) + 2 extra-seat add-ons x 10.00
    assert line_amounts(invoice) == [
        ("BASE", "1", "20.00", "20.00"),
        ("PER_UNIT", "5", "10.00", "50.00"),
        ("ADDON", "2", "10.00", "20.00"),
    ]
    assert Decimal(invoice["total"]) == Decimal("90.00")
    # Access is granted at once, before payment.
    seats = await check(bgql, "acme", "seats")
    assert seats["hasAccess"] and seats["usageLimit"] == 15
    found = (await bgql.execute(INVOICE, {"id": "ALT-00001"}))["invoice"]
    assert found["subscription"]["id"] == "sub-team" and found["customer"]["id"] == "acme"


async def test_paying_and_voiding(bgql: GraphQLClient, clock: FrozenClock) -> None:
    await team_deal(bgql)
    clock.advance(3 * DAY)
    paid = await bgql.mutate(PAY, {"input": {"invoiceId": "ALT-00001"}})
    assert paid["errors"] == []
    assert paid["invoice"]["status"] == "PAID" and at(paid["invoice"]["paidAt"]) == clock.now()
    again = await bgql.mutate(PAY, {"input": {"invoiceId": "ALT-00001"}})
    assert again["errors"] == [] and again["invoice"]["paidAt"] == paid["invoice"]["paidAt"]
    refused = await bgql.mutate(VOID, {"input": {"invoiceId": "ALT-00001"}})
    assert errors_of(refused) == ["INVOICE_ALREADY_PAID"] and refused["invoice"] is None

    await new_customer(bgql, "globex")
    await invoiced(bgql, "globex", planId="pro", subscriptionId="sub-pro")
    voided = await bgql.mutate(VOID, {"input": {"invoiceId": "ALT-00002"}})
    assert voided["errors"] == [] and voided["invoice"]["status"] == "VOID"
    assert voided["invoice"]["voidedAt"] is not None
    assert errors_of(await bgql.mutate(VOID, {"input": {"invoiceId": "ALT-00002"}})) == []
    pay_void = await bgql.mutate(PAY, {"input": {"invoiceId": "ALT-00002"}})
    assert errors_of(pay_void) == ["INVOICE_VOIDED"]
    missing = await bgql.mutate(PAY, {"input": {"invoiceId": "ALT-99999"}})
    assert missing["errors"][0]["code"] == "INVOICE_NOT_FOUND"
    assert missing["errors"][0]["field"] == ["invoiceId"]


async def test_paid_at_must_be_between_issue_and_now(bgql: GraphQLClient) -> None:
    await team_deal(bgql)
    future = (START + DAY).isoformat()
    payload = await bgql.mutate(PAY, {"input": {"invoiceId": "ALT-00001", "paidAt": future}})
    assert errors_of(payload) == ["INVALID_INPUT"]


async def test_unpaid_at_its_due_date_cancels_the_subscription(
    bgql: GraphQLClient, clock: FrozenClock, run_job: Job
) -> None:
    await team_deal(bgql, terms=14)
    clock.set(START + 14 * DAY - timedelta(seconds=1))
    await run_job()
    (invoice,) = await invoices_of(bgql, "sub-team")
    assert (await subscription(bgql, "sub-team"))["status"] == "ACTIVE"
    assert not invoice["isOverdue"]
    clock.set(START + 14 * DAY)  # the due date: the terms are up
    (invoice,) = await invoices_of(bgql, "sub-team")
    assert invoice["isOverdue"]
    await run_job()
    sub = await subscription(bgql, "sub-team")
    assert sub["status"] == "CANCELED" and at(sub["endDate"]) == clock.now()
    (invoice,) = sub["invoices"]
    assert invoice["status"] == "OPEN"  # still owed
    assert not (await check(bgql, "acme", "seats"))["hasAccess"]
    # Handled once: paying late is recorded but does not bring the subscription back.
    clock.advance(DAY)
    await run_job()
    paid = await bgql.mutate(PAY, {"input": {"invoiceId": invoice["id"]}})
    assert paid["errors"] == []
    assert (await subscription(bgql, "sub-team"))["status"] == "CANCELED"
    clock.set(MAR_31)
    await run_job()
    assert len(await invoices_of(bgql, "sub-team")) == 1  # no renewal after the end


async def test_terms_ending_as_the_next_period_starts_bill_no_renewal(
    bgql: GraphQLClient, clock: FrozenClock, run_job: Job
) -> None:
    """Monthly with 28-day terms from Jan 31: the first invoice falls due on Feb 28, the
    instant the next period starts. The cancellation comes first; the period it will not
    run is not invoiced, whenever the job gets there."""
    await team_deal(bgql, terms=28)
    clock.set(FEB_28 + timedelta(seconds=20))  # the job runs a little after the instant
    await run_job()
    assert (await subscription(bgql, "sub-team"))["status"] == "CANCELED"
    assert len(await invoices_of(bgql, "sub-team")) == 1


async def test_a_paid_invoice_never_cancels(
    bgql: GraphQLClient, clock: FrozenClock, run_job: Job
) -> None:
    await team_deal(bgql, terms=14)
    await bgql.mutate(PAY, {"input": {"invoiceId": "ALT-00001"}})
    clock.set(START + 20 * DAY)
    await run_job()
    assert (await subscription(bgql, "sub-team"))["status"] == "ACTIVE"


async def test_renewal_invoice_at_each_period_start_exactly_once(
    bgql: GraphQLClient, clock: FrozenClock, run_job: Job, db: Database, billing_tenant: Tenant
) -> None:
    await team_deal(bgql)
    await bgql.mutate(PAY, {"input": {"invoiceId": "ALT-00001"}})
    clock.set(FEB_28 - timedelta(seconds=1))
    await run_job()
    assert len(await invoices_of(bgql, "sub-team")) == 1
    clock.set(FEB_28)  # the anchor is Jan 31: the next period starts on Feb 28
    await run_job()
    await run_job()
    renewal, first = await invoices_of(bgql, "sub-team")  # newest first
    assert first["id"] == "ALT-00001" and renewal["id"] == "ALT-00002"
    assert at(renewal["periodStart"]) == FEB_28 and at(renewal["periodEnd"]) == MAR_31
    assert at(renewal["issuedAt"]) == FEB_28 and renewal["total"] == "90.00"
    await bgql.mutate(PAY, {"input": {"invoiceId": "ALT-00002"}})
    # A job that missed a period catches up, one invoice per period.
    clock.set(datetime(2025, 5, 1, tzinfo=UTC))
    await run_job()
    invoices = await invoices_of(bgql, "sub-team")
    assert [at(i["periodStart"]).date().isoformat() for i in invoices] == [
        "2025-04-30",
        "2025-03-31",
        "2025-02-28",
        "2025-01-31",
    ]
    # The database refuses a second invoice for the same subscription and period.
    env = billing_tenant.environments["development"]
    async with db.session() as session:
        query = select(Invoice).where(Invoice.environment_pk == env, Invoice.id == "ALT-00002")
        row = (await session.execute(query)).scalars().one()
    with pytest.raises(IntegrityError):
        async with audit.transaction(db, AuditActor.cli("tests: duplicate invoice")) as session:
            session.add(Invoice(**{**row.model_dump(exclude={"pk"}), "id": "ALT-DUPLICATE"}))
            await session.flush()


async def report(gql: GraphQLClient, customer_id: str, value: float) -> None:
    payload = await gql.mutate(
        REPORT, {"input": {"customerId": customer_id, "featureId": "api-calls", "value": value}}
    )
    assert payload["errors"] == [] and payload["accepted"], payload


async def test_usage_is_billed_in_the_renewal_for_the_period_just_ended(
    bgql: GraphQLClient, clock: FrozenClock, run_job: Job
) -> None:
    await new_customer(bgql, "acme")
    sub = await invoiced(bgql, "acme", planId="usage", subscriptionId="sub-usage")
    (first,) = sub["invoices"]
    assert line_amounts(first) == [("BASE", "1", "10.00", "10.00")]  # no usage yet
    clock.set(START + 3 * DAY)
    await report(bgql, "acme", 7000)
    clock.set(START + 20 * DAY)
    await report(bgql, "acme", 5000)
    clock.set(FEB_28 + DAY)
    await report(bgql, "acme", 999)  # the next period's usage: billed a period later
    await run_job()
    renewal = (await invoices_of(bgql, "sub-usage"))[0]
    usage = [ln for ln in renewal["lines"] if ln["featureId"] == "api-calls"]
    assert {(at(ln["periodStart"]), at(ln["periodEnd"])) for ln in usage} == {(START, FEB_28)}
    # 12,000 calls, graduated: 1,000 free; 9,000 x 0.002 + 5.00 flat; 2,000 x 0.001
    assert [(ln["kind"], ln["quantity"], ln["amount"]) for ln in usage] == [
        ("USAGE", "1000", "0.00"),
        ("USAGE", "9000", "18.00"),
        ("TIER_FLAT", "1", "5.00"),
        ("USAGE", "2000", "2.00"),
    ]
    assert renewal["total"] == "35.00"  # 10.00 in advance for the new period + 25.00 usage
    for invoice in ("ALT-00001", "ALT-00002"):
        assert (await bgql.mutate(PAY, {"input": {"invoiceId": invoice}}))["errors"] == []
    clock.set(MAR_31)
    await run_job()
    third = (await invoices_of(bgql, "sub-usage"))[0]
    assert [ln["quantity"] for ln in third["lines"] if ln["kind"] == "USAGE"] == ["999"]


async def test_a_subscription_that_ends_gets_its_last_usage_billed(
    bgql: GraphQLClient, clock: FrozenClock, run_job: Job
) -> None:
    await new_customer(bgql, "acme")
    await invoiced(bgql, "acme", planId="usage", subscriptionId="sub-usage")
    clock.set(START + 5 * DAY)
    await report(bgql, "acme", 3000)
    cancel = """mutation($id: String!) { cancelSubscription(input: {subscriptionId: $id}) {
      errors { code } } }"""
    assert (await bgql.mutate(cancel, {"id": "sub-usage"}))["errors"] == []
    await run_job()
    closing, _first = await invoices_of(bgql, "sub-usage")
    assert at(closing["periodStart"]) == clock.now() and closing["periodEnd"] is None
    assert all(ln["kind"] in ("USAGE", "TIER_FLAT") for ln in closing["lines"])
    assert closing["total"] == "9.00"  # 2,000 x 0.002 + 5.00
    clock.set(FEB_28)
    await run_job()
    assert len(await invoices_of(bgql, "sub-usage")) == 2  # nothing after the end


async def test_a_trial_is_not_invoiced_the_first_paid_period_is(
    bgql: GraphQLClient, clock: FrozenClock, run_job: Job
) -> None:
    await new_customer(bgql, "acme")
    sub = await invoiced(bgql, "acme", planId="trialing", subscriptionId="sub-trial")
    assert sub["status"] == "IN_TRIAL" and sub["invoices"] == []
    clock.set(START + 14 * DAY)
    await run_job()
    (invoice,) = await invoices_of(bgql, "sub-trial")
    assert at(invoice["issuedAt"]) == START + 14 * DAY and invoice["total"] == "99.00"
    assert at(invoice["dueDate"]) == START + 44 * DAY


async def test_a_future_start_is_invoiced_when_it_starts(
    bgql: GraphQLClient, clock: FrozenClock, run_job: Job
) -> None:
    await new_customer(bgql, "acme")
    later = START + 10 * DAY
    sub = await invoiced(
        bgql, "acme", planId="pro", subscriptionId="s", startDate=later.isoformat()
    )
    assert sub["status"] == "SCHEDULED" and sub["invoices"] == []
    clock.set(later)
    await run_job()
    (invoice,) = await invoices_of(bgql, "s")
    assert invoice["total"] == "49.00" and at(invoice["periodStart"]) == later


async def test_external_billing_issues_nothing(
    bgql: GraphQLClient, clock: FrozenClock, run_job: Job
) -> None:
    await new_customer(bgql, "acme")
    payload = await bgql.mutate(
        PROVISION, {"input": {"customerId": "acme", "planId": "pro", "subscriptionId": "ext"}}
    )
    assert payload["subscription"]["invoices"] == []
    clock.set(MAR_31)
    await run_job()
    assert await invoices_of(bgql, "ext") == []


async def test_an_unbillable_deal_is_refused_at_provisioning(bgql: GraphQLClient) -> None:
    await new_customer(bgql, "acme")
    payload = await bgql.mutate(
        PROVISION,
        {
            "input": {
                "customerId": "acme",
                "planId": "team",
                "billingPeriod": "ANNUALLY",
                "billing": {"mode": "INVOICE"},
            }
        },
    )
    assert errors_of(payload) == ["INVALID_PRICE"] and payload["subscription"] is None
    customer = """query { customer(id: "acme") { subscriptions { id } invoices { id } } }"""
    assert (await bgql.execute(customer))["customer"] == {"subscriptions": [], "invoices": []}


async def test_a_subscription_that_cannot_be_priced_never_stops_the_others(
    bgql: GraphQLClient,
    clock: FrozenClock,
    run_job: Job,
    db: Database,
    billing_tenant: Tenant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await team_deal(bgql)
    await new_customer(bgql, "globex")
    await invoiced(bgql, "globex", planId="pro", subscriptionId="sub-pro")
    for invoice in ("ALT-00001", "ALT-00002"):
        await bgql.mutate(PAY, {"input": {"invoiceId": invoice}})
    # Break one behind the API's back: overrides in two currencies cannot be priced.
    env = billing_tenant.environments["development"]
    broken = [
        {"amount": "5.00", "currency": "EUR"},
        {"addonId": "extra-seats", "amount": "5.00", "currency": "USD"},
    ]
    async with audit.transaction(db, AuditActor.cli("tests: break a price")) as session:
        query = select(Subscription).where(
            col(Subscription.environment_pk) == env, col(Subscription.id) == "sub-team"
        )
        sub = (await session.execute(query)).scalars().one()
        sub.price_overrides = broken
        session.add(sub)
    clock.set(FEB_28)
    await run_job()
    assert len(await invoices_of(bgql, "sub-team")) == 1  # logged, retried an hour later
    assert len(await invoices_of(bgql, "sub-pro")) == 2  # renewed all the same
    assert "subscription sub-team cannot be invoiced" in caplog.text
