"""reportEvents: a key seen before with another payload is IDEMPOTENCY_KEY_REUSED for that
event (as reportUsage answers), across calls and inside one call; a true retry, even of an
event without a timestamp sent later, is a duplicate."""

from __future__ import annotations

from datetime import timedelta

from tests.graphql.usage.conftest import Frozen
from tests.graphql.usage.helpers import codes, event, send_events, setup, usage_of


async def test_a_reused_key_with_another_payload_is_an_error(frozen: Frozen) -> None:
    gql = frozen.gql
    await setup(gql, "acme", "bolt")
    first = await send_events(gql, event("acme", "llm", "k1", dimensions={"tokens": 5}))
    assert (first["accepted"], first["duplicates"], first["errors"]) == (1, 0, [])
    retry = await send_events(gql, event("acme", "llm", "k1", dimensions={"tokens": 5}))
    assert (retry["accepted"], retry["duplicates"], retry["errors"]) == (0, 1, [])
    reused = await send_events(
        gql,
        event("acme", "llm", "fresh", dimensions={"tokens": 1}),
        event("acme", "llm", "k1", dimensions={"tokens": 6}),  # other dimensions
        event("bolt", "llm", "k1", dimensions={"tokens": 5}),  # another customer
    )
    assert (reused["accepted"], reused["duplicates"]) == (1, 0)
    assert codes(reused) == ["IDEMPOTENCY_KEY_REUSED"] * 2
    assert [e["field"] for e in reused["errors"]] == [
        ["events", "1", "idempotencyKey"],
        ["events", "2", "idempotencyKey"],
    ]
    assert await usage_of(gql, "acme", "tokens") == 6
    assert await usage_of(gql, "bolt", "tokens") == 0


async def test_a_reused_key_inside_one_call(frozen: Frozen) -> None:
    gql = frozen.gql
    await setup(gql, "acme")
    r = await send_events(
        gql,
        event("acme", "llm", "k", dimensions={"tokens": 2}),
        event("acme", "llm", "k", dimensions={"tokens": 2}),
        event("acme", "llm", "k", dimensions={"tokens": 3}),
    )
    assert (r["accepted"], r["duplicates"]) == (1, 1)
    assert codes(r) == ["IDEMPOTENCY_KEY_REUSED"]
    assert r["errors"][0]["field"] == ["events", "2", "idempotencyKey"]
    assert await usage_of(gql, "acme", "tokens") == 2


async def test_a_retry_without_a_timestamp_is_a_duplicate(frozen: Frozen) -> None:
    gql = frozen.gql
    await setup(gql, "acme")
    assert (await send_events(gql, event("acme", "api_call", "t")))["accepted"] == 1
    frozen.clock.advance(timedelta(minutes=3))  # "now" differs: still the same event
    again = await send_events(gql, event("acme", "api_call", "t"))
    assert (again["accepted"], again["duplicates"], again["errors"]) == (0, 1, [])
    stamped = (frozen.clock.now() - timedelta(minutes=1)).isoformat()
    assert codes(await send_events(gql, event("acme", "api_call", "t", timestamp=stamped))) == [
        "IDEMPOTENCY_KEY_REUSED"
    ]
    assert await usage_of(gql, "acme", "api-calls") == 1
