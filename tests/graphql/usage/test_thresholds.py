"""Threshold crossings (80 % and 100 % of the limit): recorded once per period and threshold,
from calculated usage and from events, under concurrency too, and again in the next period."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from app.db import Database
from tests.graphql.usage.conftest import JAN_10, Frozen
from tests.graphql.usage.helpers import crossings, event, report, reported, send_events, setup
from tests.support import GraphQLClient, Tenant

FEB_10 = JAN_10 + timedelta(days=31)


async def test_each_threshold_once_per_period(frozen: Frozen, db: Database) -> None:
    gql, env = frozen.gql, frozen.env
    await setup(gql, "acme")  # requests: 100 a month
    assert await reported(gql, "acme", "requests", 79) == 79
    assert await crossings(db, env, "acme", "requests") == []
    assert await reported(gql, "acme", "requests", 1) == 80
    assert await crossings(db, env, "acme", "requests") == [(JAN_10, 80)]
    for value in (5, 15, 10, -50, 50, 1):
        await reported(gql, "acme", "requests", value)
    await reported(gql, "acme", "requests", 0, mode="SET")
    await reported(gql, "acme", "requests", 200, mode="SET")
    assert await crossings(db, env, "acme", "requests") == [(JAN_10, 80), (JAN_10, 100)]
    frozen.clock.set(FEB_10 + timedelta(hours=1))
    assert await reported(gql, "acme", "requests", 150) == 150  # both at once
    assert await crossings(db, env, "acme", "requests") == [
        (JAN_10, 80), (JAN_10, 100), (FEB_10, 80), (FEB_10, 100)]


async def test_no_crossing_without_a_limit_or_when_rejected(gql: GraphQLClient, tenant: Tenant,
                                                            db: Database) -> None:
    env = tenant.environments["development"]
    await setup(gql, "acme")
    await reported(gql, "acme", "messages", 10**9)  # unlimited
    assert await crossings(db, env, "acme", "messages") == []
    rejected = await report(gql, "acme", "seats", 10, consume=True)  # 3, hard
    assert not rejected["accepted"]
    assert await crossings(db, env, "acme", "seats") == []
    replayed = [await report(gql, "acme", "seats", 2, idempotencyKey="t") for _ in range(3)]
    assert all(r["accepted"] for r in replayed)
    assert await crossings(db, env, "acme", "seats") == []  # 2 of 3 is 67 %
    await reported(gql, "acme", "storage", 101)  # soft limits cross too
    assert [t for _, t in await crossings(db, env, "acme", "storage")] == [80, 100]


async def test_events_cross_thresholds_once(frozen: Frozen, db: Database) -> None:
    gql, env = frozen.gql, frozen.env
    await setup(gql, "acme")  # eu-calls: 10 a month
    eu = {"region": "eu"}
    await send_events(gql, *[event("acme", "api_call", f"e{i}", dimensions=eu)
                             for i in range(7)])
    assert await crossings(db, env, "acme", "eu-calls") == []
    await send_events(gql, *[event("acme", "api_call", f"e{i}", dimensions=eu)
                             for i in range(9)])  # 7 duplicates, 2 new
    assert await crossings(db, env, "acme", "eu-calls") == [(JAN_10, 80)]
    await send_events(gql, *[event("acme", "api_call", f"f{i}", dimensions=eu)
                             for i in range(20)])
    assert await crossings(db, env, "acme", "eu-calls") == [(JAN_10, 80), (JAN_10, 100)]
    frozen.clock.set(FEB_10)
    await send_events(gql, *[event("acme", "api_call", f"g{i}", dimensions=eu)
                             for i in range(8)])
    assert await crossings(db, env, "acme", "eu-calls") == [
        (JAN_10, 80), (JAN_10, 100), (FEB_10, 80)]


async def test_crossings_once_under_concurrency(gql: GraphQLClient, tenant: Tenant,
                                                db: Database) -> None:
    env = tenant.environments["development"]
    await setup(gql, "acme")
    results = await asyncio.gather(*[report(gql, "acme", "storage", 5) for _ in range(40)])
    assert all(r["accepted"] for r in results)
    assert sorted(r["usage"]["currentUsage"] for r in results) == [5 * n for n in range(1, 41)]
    assert [t for _, t in await crossings(db, env, "acme", "storage")] == [80, 100]
    batches = [[event("acme", "api_call", f"c{b}-{i}", dimensions={"size": "xl"})
                for i in range(3)] for b in range(10)]
    await asyncio.gather(*[send_events(gql, *batch) for batch in batches])
    assert [t for _, t in await crossings(db, env, "acme", "big-calls")] == [80, 100]
