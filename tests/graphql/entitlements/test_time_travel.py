"""Time travel on a FrozenClock: trials ending, end-of-period changes, cancellations, promotion
expiry, future starts, the background job, and month-end billing anchors.

Reads must be right at every instant without the job (statuses and entitlements follow from
the dates); the job only writes down what the clock decided and adds default-plan fallbacks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from sqlalchemy import select
from sqlmodel import col

from app.clock import FrozenClock
from app.db import Database
from app.models import Subscription
from tests.graphql.entitlements.catalog import apply_catalog, check, new_customer
from tests.graphql.entitlements.conftest import (
    START,
    Job,
    cancel,
    codes,
    customer,
    grant,
    iso,
    live,
    provision_customer,
    subscribed,
    subscription,
    subscriptions,
    update,
    when,
)
from tests.support import GraphQLClient

DAY = timedelta(days=1)


async def stored_status(db: Database, subscription_id: str) -> str:
    """The status column as the job (or the last write) left it."""
    async with db.session() as session:
        query = select(Subscription).where(col(Subscription.id) == subscription_id)
        return (await session.execute(query)).scalar_one().status


async def on_trial(gql: GraphQLClient, behavior: str) -> dict[str, object]:
    await apply_catalog(gql)
    payload = await provision_customer(
        gql,
        customerId="acme",
        subscription={"planId": "pro", "trial": {"days": 14, "endBehavior": behavior}},
    )
    assert payload["errors"] == [], payload
    sub: dict[str, object] = payload["subscription"]
    assert sub["status"] == "IN_TRIAL" and when(str(sub["trialEndDate"])) == START + 14 * DAY
    return sub


# --- trials ----------------------------------------------------------------------------------


async def test_trial_converts_to_paid(
    tgql: GraphQLClient, clock: FrozenClock, db: Database, run_job: Job
) -> None:
    sub = await on_trial(tgql, "CONVERT_TO_PAID")
    assert (await check(tgql, "acme", "sso"))["sources"][0]["isTrial"]
    clock.set(START + 14 * DAY - timedelta(seconds=1))
    assert (await subscription(tgql, str(sub["id"])) or {})["status"] == "IN_TRIAL"
    clock.set(START + 14 * DAY)
    after = await subscription(tgql, str(sub["id"]))
    assert after is not None and after["status"] == "ACTIVE"  # without the job
    assert when(after["currentPeriodStart"]) == START + 14 * DAY  # paid periods start now
    assert when(after["currentPeriodEnd"]) == datetime(2024, 2, 24, 12, tzinfo=UTC)
    sso = await check(tgql, "acme", "sso")
    assert sso["hasAccess"] and not sso["sources"][0]["isTrial"]
    assert await stored_status(db, str(sub["id"])) == "IN_TRIAL"
    assert await run_job() >= 1
    assert await stored_status(db, str(sub["id"])) == "ACTIVE"
    assert [s["planId"] for s in await live(tgql, "acme")] == ["pro"]


async def test_trial_that_cancels_expires_then_falls_back(
    tgql: GraphQLClient, clock: FrozenClock, db: Database, run_job: Job
) -> None:
    sub = await on_trial(tgql, "CANCEL")
    assert (await check(tgql, "acme", "sso"))["hasAccess"]
    clock.set(START + 14 * DAY)
    expired = await subscription(tgql, str(sub["id"]))
    assert expired is not None and expired["status"] == "EXPIRED"
    # The read already answers from the default plan, before any job (issue 10, item 2).
    sso = await check(tgql, "acme", "sso")
    assert (sso["hasAccess"], sso["denyReason"]) == (False, "NOT_ENTITLED")
    assert (await check(tgql, "acme", "seats"))["usageLimit"] == 3
    await run_job()
    assert await stored_status(db, str(sub["id"])) == "EXPIRED"
    (fallback,) = await live(tgql, "acme")
    assert fallback["planId"] == "free" and when(fallback["startDate"]) == START + 14 * DAY
    assert (await check(tgql, "acme", "seats"))["usageLimit"] == 3
    assert not (await check(tgql, "acme", "sso"))["hasAccess"]
    await run_job()  # again: nothing more
    assert len(await subscriptions(tgql, "acme")) == 2


async def test_parallel_trial_converts_and_replaces_the_paid_one(
    tgql: GraphQLClient, clock: FrozenClock
) -> None:
    await apply_catalog(tgql)
    await new_customer(tgql, "acme", subscription={"planId": "pro", "skipTrial": True})
    trial = await subscribed(
        tgql,
        customerId="acme",
        planId="enterprise",
        trial={"days": 10},
        entitlements=[{"featureId": "seats", "limit": 100}],
    )
    extended = await update(tgql, subscriptionId=trial["id"], trialEndDate=iso(START + 12 * DAY))
    assert extended["errors"] == []
    clock.set(START + 11 * DAY)  # past the first trial end: both still live
    assert len(await live(tgql, "acme")) == 2
    clock.set(START + 12 * DAY)
    (now_live,) = await live(tgql, "acme")
    assert (now_live["id"], now_live["status"]) == (trial["id"], "ACTIVE")
    assert (await check(tgql, "acme", "seats"))["usageLimit"] == 100


async def test_trial_from_the_free_plan_runs_beside_it(
    tgql: GraphQLClient, clock: FrozenClock, run_job: Job
) -> None:
    await apply_catalog(tgql)
    await new_customer(tgql, "acme")
    (free,) = await live(tgql, "acme")
    trial = await subscribed(
        tgql, customerId="acme", planId="pro", trial={"days": 5, "endBehavior": "CANCEL"}
    )
    assert trial["isParallelTrial"] and trial["status"] == "IN_TRIAL"
    assert (await check(tgql, "acme", "sso"))["hasAccess"]
    clock.set(START + 5 * DAY)
    assert [s["id"] for s in await live(tgql, "acme")] == [free["id"]]
    assert not (await check(tgql, "acme", "sso"))["hasAccess"]
    await run_job()  # the free plan was never left: no second one
    assert [s["id"] for s in await live(tgql, "acme")] == [free["id"]]


# --- scheduled plan changes and cancellations ------------------------------------------------


async def test_end_of_period_downgrade(
    tgql: GraphQLClient, clock: FrozenClock, run_job: Job
) -> None:
    await apply_catalog(tgql)
    await new_customer(tgql, "acme", subscription={"planId": "pro", "skipTrial": True})
    sub = await subscribed(tgql, customerId="acme", planId="free", changeTiming="END_OF_PERIOD")
    end = START + 31 * DAY
    assert when(sub["scheduledChange"]["effectiveAt"]) == end
    clock.set(end - timedelta(seconds=1))
    assert (await check(tgql, "acme", "sso"))["hasAccess"]
    assert (await check(tgql, "acme", "seats"))["usageLimit"] == 10
    clock.set(end)
    assert not (await check(tgql, "acme", "sso"))["hasAccess"]  # free now, without the job
    assert (await check(tgql, "acme", "seats"))["usageLimit"] == 3
    read = await subscription(tgql, sub["id"])
    assert read is not None
    assert (read["planId"], read["scheduledChange"], read["status"]) == ("free", None, "ACTIVE")
    await run_job()
    after = await subscription(tgql, sub["id"])
    assert after is not None and (after["planId"], after["scheduledChange"]) == ("free", None)
    assert (await check(tgql, "acme", "seats"))["usageLimit"] == 3


async def test_mutations_after_a_due_downgrade_start_from_the_new_plan(
    tgql: GraphQLClient, clock: FrozenClock
) -> None:
    await apply_catalog(tgql)
    await new_customer(tgql, "acme", subscription={"planId": "pro", "skipTrial": True})
    sub = await subscribed(tgql, customerId="acme", planId="free", changeTiming="END_OF_PERIOD")
    clock.set(START + 40 * DAY)  # the change is in force; the job has not run
    refused = await update(tgql, subscriptionId=sub["id"], addons=[{"addonId": "extra-seats"}])
    assert codes(refused) == ["ADDON_NOT_COMPATIBLE"]  # free, not pro
    payload = await cancel(tgql, subscriptionId=sub["id"], at="END_OF_PERIOD")
    assert payload["errors"] == [] and payload["subscription"]["planId"] == "free"
    assert not (await check(tgql, "acme", "sso"))["hasAccess"]  # not back to pro
    assert (await check(tgql, "acme", "seats"))["usageLimit"] == 3
    assert [s["planId"] for s in await subscriptions(tgql, "acme")] == ["free"]  # no fallback


async def test_end_of_period_cancellation(
    tgql: GraphQLClient, clock: FrozenClock, db: Database, run_job: Job
) -> None:
    await apply_catalog(tgql)
    await new_customer(tgql, "acme", subscription={"planId": "pro", "skipTrial": True})
    (pro,) = await live(tgql, "acme")
    assert (await cancel(tgql, subscriptionId=pro["id"], at="END_OF_PERIOD"))["errors"] == []
    end = START + 31 * DAY
    clock.set(end - timedelta(seconds=1))
    assert [s["planId"] for s in await live(tgql, "acme")] == ["pro"]
    clock.set(end)
    assert (await subscription(tgql, pro["id"]) or {})["status"] == "CANCELED"
    (fallback,) = await live(tgql, "acme")
    assert fallback["planId"] == "free" and when(fallback["startDate"]) == end
    assert not (await check(tgql, "acme", "sso"))["hasAccess"]
    assert (await check(tgql, "acme", "seats"))["usageLimit"] == 3
    await run_job()
    assert await stored_status(db, pro["id"]) == "CANCELED"
    assert await stored_status(db, fallback["id"]) == "ACTIVE"


async def test_cancellation_on_a_date(tgql: GraphQLClient, clock: FrozenClock) -> None:
    await apply_catalog(tgql)
    await new_customer(tgql, "acme", subscription={"planId": "pro", "skipTrial": True})
    (pro,) = await live(tgql, "acme")
    on = START + 5 * DAY + timedelta(hours=3)
    assert (await cancel(tgql, subscriptionId=pro["id"], at="DATE", date=iso(on)))["errors"] == []
    clock.set(on - timedelta(microseconds=1))
    assert (await check(tgql, "acme", "sso"))["hasAccess"]
    clock.set(on)
    assert not (await check(tgql, "acme", "sso"))["hasAccess"]
    assert [s["planId"] for s in await live(tgql, "acme")] == ["free"]


# --- promotions ------------------------------------------------------------------------------


async def test_promotion_expiry(tgql: GraphQLClient, clock: FrozenClock) -> None:
    await apply_catalog(tgql)
    await new_customer(tgql, "acme")
    payload = await grant(
        tgql,
        "acme",
        {"featureId": "sso", "duration": "ONE_WEEK"},
        {"featureId": "audit-log", "duration": "LIFETIME"},
        {"featureId": "seats", "limit": 9, "endDate": iso(START + 2 * DAY)},
    )
    assert payload["errors"] == []
    ends = {p["featureId"]: when(p["endsAt"]) for p in payload["promotionalEntitlements"]}
    assert ends == {"sso": START + 7 * DAY, "audit-log": None, "seats": START + 2 * DAY}
    assert (await check(tgql, "acme", "seats"))["usageLimit"] == 9
    clock.set(START + 2 * DAY)
    assert (await check(tgql, "acme", "seats"))["usageLimit"] == 3
    clock.set(START + 7 * DAY - timedelta(seconds=1))
    assert (await check(tgql, "acme", "sso"))["hasAccess"]
    clock.set(START + 7 * DAY)
    assert not (await check(tgql, "acme", "sso"))["hasAccess"]
    clock.set(START + 3650 * DAY)
    assert (await check(tgql, "acme", "audit-log"))["hasAccess"]
    found = await customer(tgql, "acme")
    assert found is not None
    assert [p["featureId"] for p in found["promotionalEntitlements"]] == ["audit-log"]


# --- future starts ---------------------------------------------------------------------------


async def test_future_start_takes_over_then(
    tgql: GraphQLClient, clock: FrozenClock, db: Database, run_job: Job
) -> None:
    await apply_catalog(tgql)
    await new_customer(tgql, "acme")
    (free,) = await live(tgql, "acme")
    starts = START + 20 * DAY
    future = await subscribed(
        tgql, customerId="acme", planId="pro", skipTrial=True, startDate=iso(starts)
    )
    assert future["status"] == "SCHEDULED" and future["currentPeriodStart"] is None
    old = await subscription(tgql, free["id"])
    assert old is not None and when(old["endDate"]) == starts and old["status"] == "ACTIVE"
    assert not (await check(tgql, "acme", "sso"))["hasAccess"]
    clock.set(starts)
    assert [s["id"] for s in await live(tgql, "acme")] == [future["id"]]
    assert (await check(tgql, "acme", "sso"))["hasAccess"]
    await run_job()
    assert await stored_status(db, future["id"]) == "ACTIVE"
    assert await stored_status(db, free["id"]) == "CANCELED"


async def test_canceling_a_future_subscription_keeps_the_current_one(
    tgql: GraphQLClient, clock: FrozenClock
) -> None:
    await apply_catalog(tgql)
    await new_customer(tgql, "acme", subscription={"planId": "pro", "skipTrial": True})
    (pro,) = await live(tgql, "acme")
    starts = START + 20 * DAY
    future = await subscribed(tgql, customerId="acme", planId="free", startDate=iso(starts))
    assert (await cancel(tgql, subscriptionId=future["id"]))["errors"] == []
    kept = await subscription(tgql, pro["id"])
    assert kept is not None and (kept["endDate"], kept["canceledAt"]) == (None, None)
    clock.set(starts + DAY)
    assert [s["id"] for s in await live(tgql, "acme")] == [pro["id"]]
    assert (await check(tgql, "acme", "sso"))["hasAccess"]


# --- billing anchors at month ends -----------------------------------------------------------


async def test_month_end_anchor(tgql: GraphQLClient, clock: FrozenClock) -> None:
    await apply_catalog(tgql)
    clock.set(datetime(2024, 1, 31, 9, tzinfo=UTC))
    await new_customer(tgql, "acme")
    sub = await subscribed(tgql, customerId="acme", planId="pro", skipTrial=True)
    assert when(sub["currentPeriodEnd"]) == datetime(2024, 2, 29, 9, tzinfo=UTC)
    expected = [(2, 29), (3, 31), (4, 30), (5, 31)]
    for (month, day), (next_month, next_day) in pairwise(expected):
        clock.set(datetime(2024, month, day, 9, tzinfo=UTC))
        read = await subscription(tgql, sub["id"])
        assert read is not None
        assert when(read["currentPeriodStart"]) == datetime(2024, month, day, 9, tzinfo=UTC)
        assert when(read["currentPeriodEnd"]) == datetime(2024, next_month, next_day, 9, tzinfo=UTC)
    clock.set(datetime(2023, 1, 31, tzinfo=UTC))
    await new_customer(tgql, "b")
    b = await subscribed(tgql, customerId="b", planId="pro", skipTrial=True)
    assert when(b["currentPeriodEnd"]) == datetime(2023, 2, 28, tzinfo=UTC)
