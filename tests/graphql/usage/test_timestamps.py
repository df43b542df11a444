"""The accepted window of a usage timestamp (issue 10 item 12): not before the start of the
subscription granting the feature (it would land in a period before the subscription), and
not more than 5 minutes ahead; for reportUsage and reportEvents alike."""

from __future__ import annotations

from datetime import timedelta

from tests.graphql.usage.conftest import JAN_10, Frozen
from tests.graphql.usage.helpers import codes, event, history, report, send_events, setup, usage_of

SECOND = timedelta(seconds=1)


async def test_a_report_dated_before_the_subscription_is_refused(frozen: Frozen) -> None:
    gql = frozen.gql
    await setup(gql, "acme")  # subscribed at JAN_10
    frozen.clock.advance(timedelta(days=3))
    early = await report(gql, "acme", "requests", 5, timestamp=(JAN_10 - SECOND).isoformat())
    assert not early["accepted"] and codes(early) == ["INVALID_INPUT"]
    assert early["errors"][0]["field"] == ["timestamp"]
    at_start = await report(gql, "acme", "requests", 2, timestamp=JAN_10.isoformat())
    assert at_start["accepted"] and at_start["usage"]["currentUsage"] == 2
    ahead = frozen.clock.now() + timedelta(minutes=6)
    assert codes(await report(gql, "acme", "requests", 1, timestamp=ahead.isoformat())) == [
        "INVALID_INPUT"
    ]
    periods = await history(gql, "acme", "requests", JAN_10 - timedelta(days=60))
    assert [(p["periodStart"], p["usage"]) for p in periods] == [(JAN_10.isoformat(), 2)]


async def test_an_event_dated_before_the_subscription_is_refused(frozen: Frozen) -> None:
    gql = frozen.gql
    await setup(gql, "acme")
    frozen.clock.advance(timedelta(days=3))
    r = await send_events(
        gql,
        event("acme", "api_call", "e1", timestamp=(JAN_10 - timedelta(hours=2)).isoformat()),
        event("acme", "api_call", "e2", timestamp=JAN_10.isoformat()),
        event("acme", "page_view", "e3", timestamp=(JAN_10 - SECOND).isoformat()),  # no meter
    )
    assert (r["accepted"], codes(r)) == (2, ["INVALID_INPUT"])
    assert r["errors"][0]["field"] == ["events", "0", "timestamp"]
    assert await usage_of(gql, "acme", "api-calls") == 1
    # The refused event stored nothing: its key is free for the right timestamp.
    again = await send_events(gql, event("acme", "api_call", "e1"))
    assert (again["accepted"], again["errors"]) == (1, [])
