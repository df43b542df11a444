"""Calculated usage through reportUsage / reportUsageBatch: DELTA and SET, periods by
timestamp, resources, idempotent replays, consume under hard/soft/unlimited limits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.db import Database
from tests.graphql.usage.conftest import JAN_10, Frozen
from tests.graphql.usage.helpers import (
    BATCH,
    codes,
    counters,
    history,
    key_count,
    report,
    reported,
    setup,
    total,
    usage_of,
)
from tests.support import GraphQLClient, Tenant


async def test_delta_adds_set_replaces_never_below_zero(gql: GraphQLClient) -> None:
    await setup(gql, "acme")
    assert await reported(gql, "acme", "storage", 2) == 2
    assert await reported(gql, "acme", "storage", 2.5) == 4.5
    assert await reported(gql, "acme", "storage", -10) == 0  # clamped, not negative
    assert await reported(gql, "acme", "storage", 7, mode="SET") == 7
    assert await reported(gql, "acme", "storage", -2) == 5
    assert await reported(gql, "acme", "storage", 0, mode="SET") == 0
    assert await reported(gql, "acme", "storage", -1) == 0
    assert await reported(gql, "acme", "storage", 3) == 3
    assert await usage_of(gql, "acme", "storage") == 3


async def test_negative_delta_on_a_new_counter_starts_at_zero(gql: GraphQLClient) -> None:
    await setup(gql, "acme")
    assert await reported(gql, "acme", "storage", -4) == 0
    assert await reported(gql, "acme", "storage", 1) == 1


async def test_timestamp_puts_usage_into_its_own_period(frozen: Frozen, db: Database) -> None:
    gql = frozen.gql
    await setup(gql, "acme")  # subscribed at JAN_10: monthly periods start on the 10th
    assert await reported(gql, "acme", "requests", 5) == 5
    frozen.clock.set(JAN_10 + timedelta(days=40))  # Feb 19: a new period
    assert await usage_of(gql, "acme", "requests") == 0
    late = await report(gql, "acme", "requests", 3, timestamp=(JAN_10 + timedelta(days=2))
                        .isoformat())
    assert late["accepted"] and late["usage"]["currentUsage"] == 8, late
    assert late["usage"]["periodStart"] == JAN_10.isoformat()
    assert await usage_of(gql, "acme", "requests") == 0  # the current period is untouched
    now = await report(gql, "acme", "requests", 1)
    assert now["usage"]["currentUsage"] == 1
    assert now["usage"]["periodStart"] == "2031-02-10T12:00:00+00:00"
    periods = await history(gql, "acme", "requests", JAN_10)
    assert [p["usage"] for p in periods] == [8, 1]
    stored = await counters(db, frozen.env, "acme", "requests")
    assert sorted(stored.values()) == [1, 8]


async def test_resource_id_separates_counters(gql: GraphQLClient, tenant: Tenant,
                                              db: Database) -> None:
    await setup(gql, "acme")
    assert await reported(gql, "acme", "storage", 5, resourceId="ws-1") == 5
    assert await reported(gql, "acme", "storage", 7, resourceId="ws-2") == 7
    assert await reported(gql, "acme", "storage", 1) == 1
    one = await report(gql, "acme", "storage", 1, resourceId="ws-1")
    assert one["usage"]["currentUsage"] == 6 and one["usage"]["resourceId"] == "ws-1"
    stored = await counters(db, tenant.environments["development"], "acme", "storage")
    assert {key: value for (key, _), value in stored.items()} == {"ws-1": 6, "ws-2": 7, "": 1}
    assert await usage_of(gql, "acme", "storage", "ws-2") == 7
    assert await usage_of(gql, "acme", "storage") == 1


async def test_batch_answers_per_item_in_order(gql: GraphQLClient, tenant: Tenant,
                                               db: Database) -> None:
    await setup(gql, "acme")
    env = tenant.environments["development"]
    usages = [
        {"customerId": "acme", "featureId": "storage", "value": 2},
        {"customerId": "nobody", "featureId": "storage", "value": 2},
        {"customerId": "acme", "featureId": "nothing", "value": 2},
        {"customerId": "acme", "featureId": "storage", "value": -1, "mode": "SET"},
        {"customerId": "acme", "featureId": "seats", "value": 5, "consume": True},
        {"customerId": "acme", "featureId": "storage", "value": 3, "idempotencyKey": "b1"},
        {"customerId": "acme", "featureId": "storage", "value": 3, "idempotencyKey": "b1"},
    ]
    payload = await gql.mutate(BATCH, {"i": {"usages": usages}})
    assert payload["errors"] == []
    results = payload["results"]
    assert [r["accepted"] for r in results] == [True, False, False, False, False, True, True]
    assert [codes(r) for r in results] == [
        [], ["CUSTOMER_NOT_FOUND"], ["FEATURE_NOT_FOUND"], ["INVALID_INPUT"],
        ["USAGE_LIMIT_EXCEEDED"], [], []]
    assert [r["usage"]["currentUsage"] for r in results if r["accepted"]] == [2, 5, 5]
    assert await total(db, env, "acme", "storage") == 5
    assert await total(db, env, "acme", "seats") == 0


async def test_batch_over_1000_is_refused_whole(gql: GraphQLClient, tenant: Tenant,
                                                db: Database) -> None:
    await setup(gql, "acme")
    item = {"customerId": "acme", "featureId": "storage", "value": 1}
    payload = await gql.mutate(BATCH, {"i": {"usages": [item] * 1001}})
    assert payload["results"] == [] and codes(payload) == ["INVALID_INPUT"]
    assert payload["errors"][0]["field"] == ["usages"]
    assert await total(db, tenant.environments["development"], "acme", "storage") == 0
    full = await gql.mutate(BATCH, {"i": {"usages": [item] * 1000}})
    assert full["errors"] == [] and len(full["results"]) == 1000
    assert full["results"][-1]["usage"]["currentUsage"] == 1000


async def test_replay_answers_as_the_first_time(gql: GraphQLClient, tenant: Tenant,
                                                db: Database) -> None:
    await setup(gql, "acme")
    env = tenant.environments["development"]
    first = await report(gql, "acme", "storage", 2, idempotencyKey="k-1")
    assert first["accepted"] and first["usage"]["currentUsage"] == 2
    assert await reported(gql, "acme", "storage", 3) == 5
    again = await report(gql, "acme", "storage", 2, idempotencyKey="k-1")
    assert again == first  # same answer, although the usage has moved on since
    assert await total(db, env, "acme", "storage") == 5
    assert await key_count(db, env) == 1


async def test_key_reused_with_another_payload_is_an_error(gql: GraphQLClient, tenant: Tenant,
                                                           db: Database) -> None:
    await setup(gql, "acme", "bolt")
    env = tenant.environments["development"]
    assert await reported(gql, "acme", "storage", 2, idempotencyKey="k") == 2
    for other in ({"value": 3}, {"mode": "SET"}, {"resourceId": "ws"}, {"consume": True}):
        fields: dict[str, Any] = {"value": 2, **other}
        payload = await report(gql, "acme", "storage", idempotencyKey="k", **fields)
        assert not payload["accepted"] and codes(payload) == ["IDEMPOTENCY_KEY_REUSED"], other
        assert payload["errors"][0]["field"] == ["idempotencyKey"]
    bolt = await report(gql, "bolt", "storage", 2, idempotencyKey="k")
    assert codes(bolt) == ["IDEMPOTENCY_KEY_REUSED"]
    assert await total(db, env, "acme", "storage") == 2
    assert await total(db, env, "bolt", "storage") == 0


async def test_keys_are_per_environment(gql: GraphQLClient, tenant: Tenant) -> None:
    production = gql.with_key(tenant.server_keys["production"])
    await setup(gql, "acme")
    await setup(production, "acme")
    assert await reported(gql, "acme", "storage", 2, idempotencyKey="k") == 2
    assert await reported(production, "acme", "storage", 4, idempotencyKey="k") == 4


async def test_consume_against_a_hard_limit(gql: GraphQLClient, tenant: Tenant,
                                            db: Database) -> None:
    await setup(gql, "acme")  # seats: 3, hard
    env = tenant.environments["development"]
    assert await reported(gql, "acme", "seats", 2, consume=True) == 2
    over = await report(gql, "acme", "seats", 2, consume=True)
    assert not over["accepted"] and codes(over) == ["USAGE_LIMIT_EXCEEDED"]
    assert over["usage"]["currentUsage"] == 2 and over["usage"]["usageLimit"] == 3
    assert await reported(gql, "acme", "seats", 1, consume=True) == 3
    assert codes(await report(gql, "acme", "seats", 0.5, consume=True)) == [
        "USAGE_LIMIT_EXCEEDED"]
    assert await reported(gql, "acme", "seats", -1, consume=True) == 2  # releasing always fits
    assert codes(await report(gql, "acme", "seats", 4, mode="SET", consume=True)) == [
        "USAGE_LIMIT_EXCEEDED"]
    assert await reported(gql, "acme", "seats", 3, mode="SET", consume=True) == 3
    assert await total(db, env, "acme", "seats") == 3
    # Without consume the report is recorded anyway (the app decided); the check then denies.
    assert await reported(gql, "acme", "seats", 1) == 4
    assert await usage_of(gql, "acme", "seats") == 4
    # Over the limit, a consume may still go down (a release, or a SET that fits).
    assert codes(await report(gql, "acme", "seats", 4, mode="SET", consume=True)) == [
        "USAGE_LIMIT_EXCEEDED"]
    assert await reported(gql, "acme", "seats", -0.5, consume=True) == 3.5
    assert await reported(gql, "acme", "seats", 2, mode="SET", consume=True) == 2


async def test_a_rejected_consume_stores_no_key(gql: GraphQLClient, tenant: Tenant,
                                                db: Database) -> None:
    await setup(gql, "acme")
    assert await reported(gql, "acme", "seats", 3) == 3
    rejected = await report(gql, "acme", "seats", 1, consume=True, idempotencyKey="c-1")
    assert codes(rejected) == ["USAGE_LIMIT_EXCEEDED"]
    assert await key_count(db, tenant.environments["development"]) == 0
    assert await reported(gql, "acme", "seats", -1) == 2
    retried = await report(gql, "acme", "seats", 1, consume=True, idempotencyKey="c-1")
    assert retried["accepted"] and retried["usage"]["currentUsage"] == 3


async def test_soft_limit_consume_is_always_accepted(gql: GraphQLClient) -> None:
    await setup(gql, "acme")  # storage: 100, soft
    assert await reported(gql, "acme", "storage", 150, consume=True) == 150
    assert await reported(gql, "acme", "storage", 10, consume=True) == 160
    payload = await report(gql, "acme", "storage", 1, consume=True)
    assert payload["usage"]["usageLimit"] == 100


async def test_unlimited_consume_is_always_accepted(gql: GraphQLClient) -> None:
    await setup(gql, "acme")  # messages: unlimited
    payload = await report(gql, "acme", "messages", 1e9, consume=True)
    assert payload["accepted"] and payload["usage"]["usageLimit"] is None
    assert await reported(gql, "acme", "messages", 1, consume=True) == 1e9 + 1


async def test_consume_of_a_feature_not_entitled_is_refused(gql: GraphQLClient) -> None:
    await setup(gql)
    await gql.mutate("""mutation { provisionCustomer(input: {customerId: "acme",
      subscription: {planId: "daily"}}) { errors { code } } }""")
    payload = await report(gql, "acme", "seats", 1, consume=True)  # daily has no seats
    assert not payload["accepted"] and codes(payload) == ["USAGE_LIMIT_EXCEEDED"]
    assert await reported(gql, "acme", "seats", 1) == 1  # not consuming: recorded


async def test_history_of_the_idempotent_replay_spans_periods(frozen: Frozen) -> None:
    """A replay after the period ended answers as the first did (its period, its value)."""
    gql = frozen.gql
    await setup(gql, "acme")
    first = await report(gql, "acme", "requests", 4, idempotencyKey="r-1")
    frozen.clock.advance(timedelta(days=45))
    again = await report(gql, "acme", "requests", 4, idempotencyKey="r-1")
    assert again == first
    assert await usage_of(gql, "acme", "requests") == 0
