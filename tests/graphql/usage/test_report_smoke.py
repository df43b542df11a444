from __future__ import annotations

from tests.graphql.entitlements.catalog import apply_catalog, check, new_customer
from tests.support import GraphQLClient

REPORT = """mutation($i: ReportUsageInput!) { reportUsage(input: $i) { accepted
  usage { currentUsage usageLimit periodStart periodEnd } errors { code field } } }"""
EVENTS = """mutation($i: ReportEventsInput!) { reportEvents(input: $i) { accepted duplicates
  errors { code field message } } }"""


async def test_report_consume_and_check(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme")  # free: 3 seats, hard
    r = await gql.mutate(REPORT, {"i": {"customerId": "acme", "featureId": "seats", "value": 2,
                                        "idempotencyKey": "k1"}})
    assert r["accepted"] and r["usage"]["currentUsage"] == 2, r
    again = await gql.mutate(REPORT, {"i": {"customerId": "acme", "featureId": "seats",
                                            "value": 2, "idempotencyKey": "k1"}})
    assert again["accepted"] and again["usage"]["currentUsage"] == 2
    reused = await gql.mutate(REPORT, {"i": {"customerId": "acme", "featureId": "seats",
                                             "value": 5, "idempotencyKey": "k1"}})
    assert reused["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    over = await gql.mutate(REPORT, {"i": {"customerId": "acme", "featureId": "seats",
                                           "value": 2, "consume": True}})
    assert not over["accepted"] and over["errors"][0]["code"] == "USAGE_LIMIT_EXCEEDED"
    fits = await gql.mutate(REPORT, {"i": {"customerId": "acme", "featureId": "seats",
                                           "value": 1, "consume": True}})
    assert fits["accepted"] and fits["usage"]["currentUsage"] == 3
    seats = await check(gql, "acme", "seats")
    assert seats["currentUsage"] == 3 and seats["denyReason"] == "USAGE_LIMIT_EXCEEDED"


async def test_events_feed_meter(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    events = [{"customerId": "acme", "eventName": "api_call", "idempotencyKey": f"e{i}"}
              for i in range(10)]
    r = await gql.mutate(EVENTS, {"i": {"events": events}})
    assert (r["accepted"], r["duplicates"], r["errors"]) == (10, 0, [])
    r = await gql.mutate(EVENTS, {"i": {"events": events[:5]}})
    assert (r["accepted"], r["duplicates"]) == (0, 5)
    calls = await check(gql, "acme", "api-calls")
    assert calls["currentUsage"] == 10 and calls["usageLimit"] == 1000
    fed = await gql.mutate(REPORT, {"i": {"customerId": "acme", "featureId": "api-calls",
                                          "value": 1}})
    assert fed["errors"][0]["code"] == "INVALID_INPUT"
