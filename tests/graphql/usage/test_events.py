"""Raw events through reportEvents: every aggregation, dimension filters, duplicates,
per-event errors, and checks that see the events at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from app.db import Database
from app.store.usage import NO_PERIOD
from tests.graphql.entitlements.catalog import new_customer
from tests.graphql.usage.conftest import JAN_10, Frozen
from tests.graphql.usage.helpers import (
    check,
    codes,
    counters,
    event,
    history,
    key_count,
    send_events,
    setup,
    total,
    usage_of,
)
from tests.support import GraphQLClient, Tenant

HOUR = timedelta(hours=1)
ROUNDS = 16  # enough for the old unordered locking to deadlock nearly every run


async def test_count_is_seen_by_the_check_at_once(gql: GraphQLClient) -> None:
    await setup(gql, "acme")
    for batch in range(3):
        r = await send_events(gql, *[event("acme", "api_call", f"c{batch}-{i}")
                                     for i in range(7)])
        assert (r["accepted"], r["duplicates"], r["errors"]) == (7, 0, [])
        assert await usage_of(gql, "acme", "api-calls") == 7 * (batch + 1)


async def test_sum_adds_the_field(gql: GraphQLClient) -> None:
    await setup(gql, "acme")
    r = await send_events(
        gql, event("acme", "llm", "s1", dimensions={"tokens": 10}),
        event("acme", "llm", "s2", dimensions={"tokens": 20.5}),
        event("acme", "llm", "s3", dimensions={"tokens": "5"}),
        event("acme", "llm", "s4", dimensions={"tokens": "many"}),  # stored, adds nothing
        event("acme", "llm", "s5"))
    assert (r["accepted"], r["errors"]) == (5, [])
    assert await usage_of(gql, "acme", "tokens") == 35.5
    await send_events(gql, event("acme", "llm", "s6", dimensions={"tokens": 4.5}))
    assert await usage_of(gql, "acme", "tokens") == 40


async def test_max_keeps_the_largest(gql: GraphQLClient) -> None:
    await setup(gql, "acme")
    values = [5, 30, 12]
    await send_events(gql, *[event("acme", "gauge", f"m{i}", dimensions={"value": v})
                             for i, v in enumerate(values)])
    assert await usage_of(gql, "acme", "peak") == 30
    await send_events(gql, event("acme", "gauge", "m3", dimensions={"value": 20}))
    assert await usage_of(gql, "acme", "peak") == 30
    await send_events(gql, event("acme", "gauge", "m4", dimensions={"value": 41}))
    assert await usage_of(gql, "acme", "peak") == 41


async def test_latest_follows_the_timestamp_not_the_arrival(frozen: Frozen) -> None:
    gql = frozen.gql
    await setup(gql, "acme")
    frozen.clock.advance(timedelta(days=2))
    at = [(JAN_10 + timedelta(days=1, hours=h)).isoformat() for h in range(6)]
    r = await send_events(
        gql, event("acme", "gauge", "l1", timestamp=at[3], dimensions={"value": 7}),
        event("acme", "gauge", "l2", timestamp=at[1], dimensions={"value": 9}))
    assert r["accepted"] == 2
    assert await usage_of(gql, "acme", "level") == 7
    await send_events(gql, event("acme", "gauge", "l3", timestamp=at[0],
                                 dimensions={"value": 99}))
    assert await usage_of(gql, "acme", "level") == 7  # older than what we have: ignored
    assert await usage_of(gql, "acme", "peak") == 99  # MAX on the same events doesn't care
    await send_events(gql, event("acme", "gauge", "l4", timestamp=at[5],
                                 dimensions={"value": 3}))
    assert await usage_of(gql, "acme", "level") == 3


async def test_unique_count_counts_distinct_values_per_period(frozen: Frozen) -> None:
    gql = frozen.gql
    await setup(gql, "acme")
    users = ["ann", "bob", "ann", "cid"]
    r = await send_events(gql, *[event("acme", "login", f"u{i}", dimensions={"user": u})
                                 for i, u in enumerate(users)])
    assert r["accepted"] == 4
    assert await usage_of(gql, "acme", "users") == 3
    await send_events(gql, event("acme", "login", "u4", dimensions={"user": "ann"}),
                      event("acme", "login", "u5", dimensions={"user": "dan"}),
                      event("acme", "login", "u6"))  # no user: nothing to count
    assert await usage_of(gql, "acme", "users") == 4
    frozen.clock.advance(timedelta(days=31))
    assert await usage_of(gql, "acme", "users") == 0
    await send_events(gql, event("acme", "login", "u7", dimensions={"user": "ann"}))
    assert await usage_of(gql, "acme", "users") == 1
    assert [p["usage"] for p in await history(gql, "acme", "users", JAN_10)] == [4, 1]


async def test_dimension_filters(gql: GraphQLClient) -> None:
    await setup(gql, "acme")
    dims = [{"region": "eu", "size": "l"}, {"region": "eu", "size": "s"},
            {"region": "us", "size": "xl"}, {}, {"region": "EU", "size": "L"}]
    r = await send_events(gql, *[event("acme", "api_call", f"f{i}", dimensions=d)
                                 for i, d in enumerate(dims)])
    assert r["accepted"] == 5
    expected = {"api-calls": 5, "eu-calls": 2, "non-eu-calls": 3,
                "big-calls": 2, "small-calls": 3}
    for feature, count in expected.items():
        assert await usage_of(gql, "acme", feature) == count, feature
    unmetered = await send_events(gql, event("acme", "page_view", "pv"))
    assert (unmetered["accepted"], unmetered["errors"]) == (1, [])  # stored, counts nowhere
    for feature, count in expected.items():
        assert await usage_of(gql, "acme", feature) == count, feature


async def test_duplicates_across_and_within_batches(gql: GraphQLClient, tenant: Tenant,
                                                    db: Database) -> None:
    await setup(gql, "acme")
    env = tenant.environments["development"]
    r = await send_events(gql, event("acme", "api_call", "d1"), event("acme", "api_call", "d1"),
                          event("acme", "api_call", "d2"))
    assert (r["accepted"], r["duplicates"]) == (2, 1)
    r = await send_events(gql, event("acme", "api_call", "d2"), event("acme", "api_call", "d3"))
    assert (r["accepted"], r["duplicates"]) == (1, 1)
    assert await usage_of(gql, "acme", "api-calls") == 3
    assert await key_count(db, env, "usage_events") == 3


async def test_concurrent_duplicate_batches_count_once(gql: GraphQLClient) -> None:
    await setup(gql, "acme")
    events = [event("acme", "api_call", f"k{i}") for i in range(50)]
    results = await asyncio.gather(*[send_events(gql, *events) for _ in range(6)])
    assert sum(r["accepted"] for r in results) == 50
    assert sum(r["duplicates"] for r in results) == 250
    assert await usage_of(gql, "acme", "api-calls") == 50


async def test_unknown_customer_fails_its_event_only(gql: GraphQLClient, tenant: Tenant,
                                                     db: Database) -> None:
    await setup(gql, "acme")
    r = await send_events(gql, event("acme", "api_call", "a1"), event("ghost", "api_call", "a2"),
                          event("acme", "api_call", "a3"))
    assert r["accepted"] == 2 and codes(r) == ["CUSTOMER_NOT_FOUND"]
    assert r["errors"][0]["field"] == ["events", "1", "customerId"]
    assert await usage_of(gql, "acme", "api-calls") == 2
    assert await key_count(db, tenant.environments["development"], "usage_events") == 2


async def test_every_event_needs_a_key(gql: GraphQLClient, tenant: Tenant,
                                       db: Database) -> None:
    await setup(gql, "acme")
    env = tenant.environments["development"]
    missing = await gql.post(
        "mutation($i: ReportEventsInput!) { reportEvents(input: $i) { accepted } }",
        {"i": {"events": [{"customerId": "acme", "eventName": "api_call"}]}})
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    r = await send_events(gql, event("acme", "api_call", ""), event("acme", "api_call", "ok"))
    assert r["accepted"] == 1 and codes(r) == ["INVALID_INPUT"]
    assert r["errors"][0]["field"] == ["events", "0", "idempotencyKey"]
    assert await key_count(db, env, "usage_events") == 1
    assert await usage_of(gql, "acme", "api-calls") == 1


async def test_timestamp_too_far_in_the_future(frozen: Frozen, db: Database) -> None:
    gql = frozen.gql
    await setup(gql, "acme")
    frozen.clock.advance(timedelta(days=1))  # one hour ago is in the same period
    now = frozen.clock.now()
    r = await send_events(
        gql, event("acme", "api_call", "t1", timestamp=(now + timedelta(minutes=6)).isoformat()),
        event("acme", "api_call", "t2", timestamp=(now + timedelta(minutes=4)).isoformat()),
        event("acme", "api_call", "t3", timestamp=(now - HOUR).isoformat()))
    assert r["accepted"] == 2 and codes(r) == ["INVALID_INPUT"]
    assert r["errors"][0]["field"] == ["events", "0", "timestamp"]
    assert await usage_of(gql, "acme", "api-calls") == 2
    assert await key_count(db, frozen.env, "usage_events") == 2


async def test_over_1000_events_are_refused(gql: GraphQLClient, tenant: Tenant,
                                            db: Database) -> None:
    await setup(gql, "acme")
    env = tenant.environments["development"]
    r = await send_events(gql, *[event("acme", "api_call", f"o{i}") for i in range(1001)])
    assert r["accepted"] == 0 and codes(r) == ["INVALID_INPUT"]
    assert await key_count(db, env, "usage_events") == 0
    assert await total(db, env, "acme", "api-calls") == 0
    r = await send_events(gql, *[event("acme", "api_call", f"o{i}") for i in range(1000)])
    assert r["accepted"] == 1000
    assert await usage_of(gql, "acme", "api-calls") == 1000


async def test_events_count_in_the_period_of_their_timestamp(frozen: Frozen) -> None:
    gql = frozen.gql
    await setup(gql, "acme")
    frozen.clock.advance(timedelta(days=35))  # February's period
    r = await send_events(
        gql, event("acme", "api_call", "p1", timestamp=(JAN_10 + HOUR).isoformat()),
        event("acme", "api_call", "p2", timestamp=(JAN_10 + HOUR).isoformat()),
        event("acme", "api_call", "p3"))
    assert r["accepted"] == 3
    assert await usage_of(gql, "acme", "api-calls") == 1
    assert [p["usage"] for p in await history(gql, "acme", "api-calls", JAN_10)] == [2, 1]


async def test_events_of_an_archived_customer_are_refused(gql: GraphQLClient) -> None:
    await setup(gql, "acme")
    await gql.mutate('mutation { archiveCustomer(input: {customerId: "acme"}) '
                     '{ errors { code } } }')
    r = await send_events(gql, event("acme", "api_call", "x1"))
    assert r["accepted"] == 0 and codes(r) == ["CUSTOMER_ARCHIVED"]


async def test_concurrent_batches_in_any_order_never_deadlock(gql: GraphQLClient) -> None:
    """Batches sharing keys, customers and unique values, sent at once in opposite orders,
    all succeed (rows are locked in one order) and count each event once."""
    await setup(gql, "acme", "bolt")
    for round_ in range(ROUNDS):
        events = [event("acme" if i % 2 else "bolt", "login" if i % 3 else "api_call",
                        f"r{round_}-{i}", dimensions={"user": f"u{i % 7}"}) for i in range(40)]
        results = await asyncio.gather(*[send_events(gql, *(events[::-1] if n % 2 else events))
                                         for n in range(6)])
        assert all(r["errors"] == [] for r in results), results
        assert sum(r["accepted"] for r in results) == 40
    calls = [await usage_of(gql, c, "api-calls") for c in ("acme", "bolt")]
    assert sum(calls) == ROUNDS * len([i for i in range(40) if i % 3 == 0])
    assert [await usage_of(gql, c, "users") for c in ("acme", "bolt")] == [7, 7]


async def test_a_batch_over_many_customers_counts_each_in_its_own_period(
        gql: GraphQLClient, tenant: Tenant, db: Database) -> None:
    """The batch reads only the metered features' entitlements of each customer: customers on
    different plans (a monthly limit on `basic`, api-calls not granted on `daily`), one whose
    cached entitlements are missing, each get their own events in their own counter."""
    basic = [f"b{i}" for i in range(12)]
    daily = [f"d{i}" for i in range(6)]
    await setup(gql, *basic)
    for customer_id in daily:
        await new_customer(gql, customer_id, subscription={"planId": "daily"})
    env = tenant.environments["development"]
    pool = await db.pool()
    async with pool.acquire() as conn:  # b0's cache is gone: the batch computes it
        await conn.execute("DELETE FROM customer_entitlements ce USING customers c "
                           "WHERE c.pk = ce.customer_pk AND c.environment_pk = $1 "
                           "AND c.id = 'b0'", env)
    everyone = basic + daily
    events = [event(c, "api_call", f"m{n}-{c}", dimensions={"region": "eu"})
              for n in range(3) for c in everyone]
    events += [event(c, "llm", f"t-{c}", dimensions={"tokens": i + 1})
               for i, c in enumerate(everyone)]
    r = await send_events(gql, *events)
    assert (r["accepted"], r["duplicates"], r["errors"]) == (len(events), 0, [])
    for i, c in enumerate(everyone):
        assert await total(db, env, c, "api-calls") == 3, c
        assert await total(db, env, c, "eu-calls") == 3, c
        assert await total(db, env, c, "tokens") == i + 1, c
    for c in basic:  # granted with a monthly reset: counted in the current month
        assert await usage_of(gql, c, "api-calls") == 3, c
        assert (await check(gql, c, "tokens"))["currentUsage"] == everyone.index(c) + 1, c
        assert [start for _, start in await counters(db, env, c, "api-calls")] != [NO_PERIOD]
    for c in daily:  # not granted: no usage period, and the check denies it
        assert [start for _, start in await counters(db, env, c, "api-calls")] == [NO_PERIOD]
        entitlement = await check(gql, c, "api-calls")
        assert entitlement["hasAccess"] is False and entitlement["usagePeriodStart"] is None
