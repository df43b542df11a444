"""usageHistory: one entry per usage period between two instants, past periods included,
periods without usage as zero; typed errors for what cannot be answered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.graphql.usage.conftest import JAN_10, Frozen
from tests.graphql.usage.helpers import HISTORY, event, history, reported, send_events, setup
from tests.support import GraphQLClient, Tenant


def at(month: int, day: int = 10, hour: int = 12) -> datetime:
    return datetime(2031, month, day, hour, tzinfo=UTC)


async def test_history_per_period_zero_filled(frozen: Frozen) -> None:
    gql = frozen.gql
    await setup(gql, "acme")
    assert await reported(gql, "acme", "requests", 5) == 5
    frozen.clock.set(at(3, 15))  # nothing in February
    assert await reported(gql, "acme", "requests", 3) == 3
    assert await reported(gql, "acme", "requests", 1, timestamp=at(1, 20).isoformat()) == 6
    frozen.clock.set(at(5, 1))
    periods = await history(gql, "acme", "requests", JAN_10, at(4, 10))
    assert periods == [
        {"periodStart": at(1).isoformat(), "periodEnd": at(2).isoformat(), "usage": 6},
        {"periodStart": at(2).isoformat(), "periodEnd": at(3).isoformat(), "usage": 0},
        {"periodStart": at(3).isoformat(), "periodEnd": at(4).isoformat(), "usage": 3},
    ]
    # Without `to`: up to now, the current period included; `from` inside a period counts it.
    periods = await history(gql, "acme", "requests", at(2, 20))
    assert [(p["periodStart"], p["usage"]) for p in periods] == [
        (at(2).isoformat(), 0), (at(3).isoformat(), 3), (at(4).isoformat(), 0)]
    # No periods before the subscription started (issue 10 item 13).
    earlier = await history(gql, "acme", "requests", at(1, 1), at(1, 11))
    assert [(p["periodStart"], p["usage"]) for p in earlier] == [(at(1).isoformat(), 6)]
    assert await history(gql, "acme", "requests", datetime(2030, 6, 1, tzinfo=UTC), at(1)) == []


async def test_history_of_calendar_periods_starts_with_the_subscription(frozen: Frozen) -> None:
    gql = frozen.gql
    await setup(gql)
    await gql.mutate("""mutation { provisionCustomer(input: {customerId: "acme",
      subscription: {planId: "calendar"}}) { errors { code } } }""")
    assert await reported(gql, "acme", "requests", 2) == 2
    frozen.clock.set(at(2, 15))
    periods = await history(gql, "acme", "requests", datetime(2030, 10, 1, tzinfo=UTC))
    # The period containing the start (Jan 10) is the first one: it had the subscription.
    assert [(p["periodStart"], p["usage"]) for p in periods] == [
        (datetime(2031, 1, 1, tzinfo=UTC).isoformat(), 2),
        (datetime(2031, 2, 1, tzinfo=UTC).isoformat(), 0),
    ]


async def test_history_of_events_and_of_resources(frozen: Frozen) -> None:
    gql = frozen.gql
    await setup(gql, "acme")
    await send_events(gql, event("acme", "api_call", "h1"), event("acme", "api_call", "h2"))
    assert await reported(gql, "acme", "requests", 4, resourceId="ws") == 4
    frozen.clock.set(at(2, 11))
    await send_events(gql, event("acme", "api_call", "h3"))
    calls = await history(gql, "acme", "api-calls", JAN_10)
    assert [p["usage"] for p in calls] == [2, 1]
    assert [p["usage"] for p in await history(gql, "acme", "requests", JAN_10,
                                              resource="ws")] == [4, 0]
    assert [p["usage"] for p in await history(gql, "acme", "requests", JAN_10)] == [0, 0]


async def test_history_of_a_feature_that_never_resets(gql: GraphQLClient) -> None:
    await setup(gql, "acme")
    assert await reported(gql, "acme", "seats", 2) == 2
    periods = await history(gql, "acme", "seats", datetime(2020, 1, 1, tzinfo=UTC))
    assert periods == [{"periodStart": None, "periodEnd": None, "usage": 2}]


async def _history_error(gql: GraphQLClient, **variables: Any) -> tuple[int, str]:
    base = {"c": "acme", "f": "requests", "from": "2020-01-01T00:00:00Z", "to": None, "r": None}
    response = await gql.post(HISTORY, {**base, **variables})
    body = response.json()
    assert body.get("data") is None, body
    return response.status_code, body["errors"][0]["extensions"]["code"]


async def test_history_errors(gql: GraphQLClient, tenant: Tenant) -> None:
    await setup(gql, "acme")
    assert await _history_error(gql, c="ghost") == (200, "CUSTOMER_NOT_FOUND")
    assert await _history_error(gql, f="nothing") == (200, "FEATURE_NOT_FOUND")
    backwards = "2019-12-31T00:00:00Z"
    assert await _history_error(gql, to=backwards) == (200, "INVALID_INPUT")
    assert await _history_error(gql, **{"from": "2020-01-10T12:00:00"}) == (200, "INVALID_INPUT")
    assert await _history_error(gql, **{"from": "not a date"}) == (400, "BAD_REQUEST")
    # Outside the DateTime bounds (1970 to 2200, issue 9): refused by the scalar itself. The
    # second was a 500 (overflow).
    assert await _history_error(gql, **{"from": "1000-01-01T00:00:00Z"}) == (
        400, "INVALID_INPUT")
    assert await _history_error(gql, **{"from": "0001-01-01T00:00:00+05:00",
                                        "to": "0001-03-01T00:00:00Z"}) == (
        400, "INVALID_INPUT")
    client = gql.with_key(tenant.client_key)
    assert await _history_error(client) == (200, "FORBIDDEN")
