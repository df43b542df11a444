"""Usage periods on a FrozenClock: a new period starts at zero with no job running, month-end
anchors, calendar months, and plan changes that keep or restart the counter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.db import Database
from tests.graphql.entitlements.catalog import provision
from tests.graphql.usage.conftest import JAN_10, Frozen
from tests.graphql.usage.helpers import (
    check,
    customer_pk,
    history,
    report,
    reported,
    setup,
    usage_of,
)

SECOND = timedelta(seconds=1)


async def test_a_new_period_starts_at_zero_without_any_job(frozen: Frozen) -> None:
    gql = frozen.gql
    await setup(gql, "acme")  # requests: 100 a month from the subscription start (Jan 10)
    assert await reported(gql, "acme", "requests", 30) == 30
    frozen.clock.set(datetime(2031, 2, 10, 12, tzinfo=UTC) - SECOND)
    assert await usage_of(gql, "acme", "requests") == 30
    frozen.clock.set(datetime(2031, 2, 10, 12, tzinfo=UTC))
    seen = await check(gql, "acme", "requests")
    assert seen["currentUsage"] == 0 and seen["remaining"] == 100
    assert seen["usagePeriodStart"] == "2031-02-10T12:00:00+00:00"
    assert seen["usagePeriodEnd"] == "2031-03-10T12:00:00+00:00"
    periods = await history(gql, "acme", "requests", JAN_10)
    assert [(p["periodStart"], p["usage"]) for p in periods] == [
        ("2031-01-10T12:00:00+00:00", 30), ("2031-02-10T12:00:00+00:00", 0)]
    assert await reported(gql, "acme", "requests", 2) == 2
    # The full January allowance is available again in February, consume included.
    assert await reported(gql, "acme", "requests", 98, consume=True) == 100


async def test_calendar_months_reset_on_the_first(frozen: Frozen) -> None:
    gql = frozen.gql
    await setup(gql)
    await gql.mutate("""mutation { provisionCustomer(input: {customerId: "acme",
      subscription: {planId: "calendar"}}) { errors { code } } }""")
    assert await reported(gql, "acme", "requests", 7) == 7
    frozen.clock.set(datetime(2031, 2, 1, tzinfo=UTC) - SECOND)
    assert await usage_of(gql, "acme", "requests") == 7
    frozen.clock.set(datetime(2031, 2, 1, tzinfo=UTC))
    seen = await check(gql, "acme", "requests")
    assert seen["currentUsage"] == 0 and seen["usagePeriodStart"] == "2031-02-01T00:00:00+00:00"


@pytest.mark.parametrize("year, february_end", [(2031, 28), (2032, 29)])
async def test_month_end_anchor_resets_on_the_last_day_of_february(
        frozen: Frozen, year: int, february_end: int) -> None:
    gql = frozen.gql
    frozen.clock.set(datetime(year, 1, 31, 9, tzinfo=UTC))
    await setup(gql, "acme")  # subscribed Jan 31, 09:00
    assert await reported(gql, "acme", "requests", 10) == 10
    reset = datetime(year, 2, february_end, 9, tzinfo=UTC)
    frozen.clock.set(reset - SECOND)
    assert await usage_of(gql, "acme", "requests") == 10
    frozen.clock.set(reset)
    seen = await check(gql, "acme", "requests")
    assert seen["currentUsage"] == 0
    assert seen["usagePeriodStart"] == reset.isoformat()
    assert seen["usagePeriodEnd"] == datetime(year, 3, 31, 9, tzinfo=UTC).isoformat()
    assert await reported(gql, "acme", "requests", 4) == 4
    frozen.clock.set(datetime(year, 3, 31, 9, tzinfo=UTC))
    assert await usage_of(gql, "acme", "requests") == 0
    frozen.clock.set(datetime(year, 4, 30, 9, tzinfo=UTC) - SECOND)
    assert (await check(gql, "acme", "requests"))["usagePeriodEnd"] == \
        datetime(year, 4, 30, 9, tzinfo=UTC).isoformat()
    periods = await history(gql, "acme", "requests", datetime(year, 1, 31, 9, tzinfo=UTC))
    assert [p["usage"] for p in periods] == [10, 4, 0]


async def test_plan_change_keeps_usage_in_the_same_period(frozen: Frozen) -> None:
    gql = frozen.gql
    await setup(gql, "acme")  # basic: 100 a month
    assert await reported(gql, "acme", "requests", 80) == 80
    frozen.clock.advance(timedelta(days=5, hours=3))
    changed = await provision(gql, customerId="acme", planId="plus", changeTiming="IMMEDIATE")
    assert changed["errors"] == [] and changed["subscription"]["planId"] == "plus"
    seen = await check(gql, "acme", "requests")
    assert (seen["currentUsage"], seen["usageLimit"]) == (80, 500)
    payload = await report(gql, "acme", "requests", 20)
    assert payload["usage"]["currentUsage"] == 100
    assert payload["usage"]["periodStart"] == JAN_10.isoformat()


async def test_plan_change_to_another_reset_period_starts_over(frozen: Frozen) -> None:
    gql = frozen.gql
    await setup(gql, "acme")
    assert await reported(gql, "acme", "requests", 80) == 80
    frozen.clock.advance(timedelta(days=5, hours=3))  # Jan 15, 15:00
    changed = await provision(gql, customerId="acme", planId="daily", changeTiming="IMMEDIATE")
    assert changed["errors"] == [] and changed["subscription"]["planId"] == "daily"
    seen = await check(gql, "acme", "requests")
    assert (seen["currentUsage"], seen["usageLimit"]) == (0, 1000)
    assert seen["usagePeriodStart"] == "2031-01-15T12:00:00+00:00"  # days from 12:00
    assert await reported(gql, "acme", "requests", 5) == 5
    frozen.clock.advance(timedelta(days=1))
    assert await usage_of(gql, "acme", "requests") == 0
    back = await provision(gql, customerId="acme", planId="basic", changeTiming="IMMEDIATE")
    assert back["errors"] == []
    assert await usage_of(gql, "acme", "requests") == 80  # the month's counter, as it was


async def test_periods_that_start_together_are_counted_apart(frozen: Frozen, db: Database
                                                             ) -> None:
    """A day and a month that start at the same instant are two counters: a change to
    another reset period starts over even at the very start of the old period (counters used
    to be keyed by the period's start alone, and then kept the usage)."""
    gql = frozen.gql
    await setup(gql, "acme")  # basic: requests monthly from Jan 10, 12:00
    assert await reported(gql, "acme", "requests", 80) == 80
    changed = await provision(gql, customerId="acme", planId="daily", changeTiming="IMMEDIATE")
    assert changed["errors"] == []
    seen = await check(gql, "acme", "requests")
    assert seen["usagePeriodStart"] == JAN_10.isoformat()  # the same start as the month's
    assert (seen["currentUsage"], seen["usageLimit"]) == (0, 1000)
    assert await reported(gql, "acme", "requests", 5) == 5
    pk = await customer_pk(db, frozen.env, "acme")
    pool = await db.pool()
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT period_start, period_end, value FROM usage_counters "
            "WHERE customer_pk = $1 AND feature_id = 'requests' ORDER BY period_end", pk)
    assert [(r["period_start"], r["period_end"], r["value"]) for r in rows] == [
        (JAN_10, JAN_10 + timedelta(days=1), 5),
        (JAN_10, datetime(2031, 2, 10, 12, tzinfo=UTC), 80)]
    back = await provision(gql, customerId="acme", planId="basic", changeTiming="IMMEDIATE")
    assert back["errors"] == []
    assert await usage_of(gql, "acme", "requests") == 80  # the month's counter, as it was
    history_days = await history(gql, "acme", "requests", JAN_10)
    assert [p["usage"] for p in history_days] == [80]
