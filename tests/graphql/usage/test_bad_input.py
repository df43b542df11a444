"""Bad input to the usage operations: typed errors (or a clean 400 from the transport), never
a 500, and nothing recorded for what failed (the tables are read back)."""

from __future__ import annotations

from typing import Any

import pytest

from app.db import Database
from tests.graphql.usage.helpers import (
    BATCH,
    REPORT,
    codes,
    event,
    key_count,
    report,
    reported,
    send_events,
    setup,
    total,
)
from tests.support import GraphQLClient, Tenant

LITERAL = """mutation { reportUsage(input: {customerId: "acme", featureId: "storage",
  value: %s}) { accepted errors { code field } } }"""


async def _nothing_recorded(db: Database, tenant: Tenant, *features: str) -> None:
    env = tenant.environments["development"]
    for feature in features:
        assert await total(db, env, "acme", feature) == 0, feature
    assert await key_count(db, env) == 0
    assert await key_count(db, env, "usage_events") == 0


@pytest.mark.parametrize("customer, feature, code", [
    ("ghost", "storage", "CUSTOMER_NOT_FOUND"),
    ("acme", "nothing", "FEATURE_NOT_FOUND"),
    ("acme", "sso", "INVALID_INPUT"),  # not metered
    ("acme", "api-calls", "INVALID_INPUT"),  # fed by events: use reportEvents
])
async def test_report_of_what_cannot_take_usage(gql: GraphQLClient, tenant: Tenant,
                                                db: Database, customer: str, feature: str,
                                                code: str) -> None:
    await setup(gql, "acme")
    payload = await report(gql, customer, feature, 1, idempotencyKey="k")
    assert not payload["accepted"] and payload["usage"] is None
    assert codes(payload) == [code]
    field = "customerId" if code == "CUSTOMER_NOT_FOUND" else "featureId"
    assert payload["errors"][0]["field"] == [field]
    await _nothing_recorded(db, tenant, "storage", "api-calls", "sso")


@pytest.mark.parametrize("fields, field", [
    ({"value": -1, "mode": "SET"}, "value"),
    ({"idempotencyKey": ""}, "idempotencyKey"),
    ({"idempotencyKey": "k" * 201}, "idempotencyKey"),
    ({"timestamp": "2199-01-01T00:00:00Z"}, "timestamp"),
    ({"timestamp": "1999-12-31T23:59:59Z"}, "timestamp"),  # before 2000: refused
    # The earliest DateTime input (1970-01-01Z); earlier ones (0001-01-01+05:00 was a 500,
    # an overflow) are refused by the DateTime scalar:
    # tests/graphql/entitlements/test_input_boundary.py.
    ({"timestamp": "1970-01-01T05:00:00+05:00"}, "timestamp"),
])
async def test_invalid_report_is_a_typed_error(gql: GraphQLClient, tenant: Tenant, db: Database,
                                               fields: dict[str, Any], field: str) -> None:
    await setup(gql, "acme")
    payload = await report(gql, "acme", "storage", **{"value": 1, **fields})
    assert not payload["accepted"] and codes(payload) == ["INVALID_INPUT"]
    assert payload["errors"][0]["field"] == [field]
    await _nothing_recorded(db, tenant, "storage")


async def test_archived_customer_takes_no_usage(gql: GraphQLClient, tenant: Tenant,
                                                db: Database) -> None:
    await setup(gql, "acme")
    await gql.mutate('mutation { archiveCustomer(input: {customerId: "acme"}) '
                     '{ errors { code } } }')
    assert codes(await report(gql, "acme", "storage", 1)) == ["CUSTOMER_ARCHIVED"]
    await _nothing_recorded(db, tenant, "storage")


@pytest.mark.parametrize("body", [
    b'{"query": "%s", "variables": {"i": {"customerId": "acme", "featureId": "storage", '
    b'"value": %s}}}' % (REPORT.replace("\n", " ").replace('"', '\\"').encode(), number)
    for number in (b"NaN", b"Infinity", b"-Infinity", b"1e400", b'"NaN"', b'"1"', b"null")
])
async def test_non_finite_value_is_refused_by_the_transport(
        gql: GraphQLClient, tenant: Tenant, db: Database, body: bytes) -> None:
    await setup(gql, "acme")
    response = await gql.http.post("/graphql", content=body, headers={
        "Authorization": f"Bearer {gql.key}", "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    await _nothing_recorded(db, tenant, "storage")


@pytest.mark.parametrize("literal, status", [("NaN", 400), ('"1"', 400), ("1e400", 200)])
async def test_non_finite_literal(gql: GraphQLClient, tenant: Tenant, db: Database,
                                  literal: str, status: int) -> None:
    await setup(gql, "acme")
    response = await gql.post(LITERAL % literal)
    assert response.status_code == status, response.text
    body = response.json()
    if status == 200:  # the literal parses to infinity: the service refuses it, typed
        assert body["data"]["reportUsage"] == {
            "accepted": False, "errors": [{"code": "INVALID_INPUT", "field": ["value"]}]}
    else:
        assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    await _nothing_recorded(db, tenant, "storage")


async def test_overflowing_usage_is_a_typed_error(gql: GraphQLClient, tenant: Tenant,
                                                  db: Database) -> None:
    await setup(gql, "acme")
    # Values are bounded (|v| <= 1e15, issue 9): 1e308, which once overflowed a counter, is
    # refused before it reaches one.
    assert await reported(gql, "acme", "storage", 1e15) == 1e15
    payload = await report(gql, "acme", "storage", 1e308)
    assert not payload["accepted"] and codes(payload) == ["INVALID_INPUT"]
    assert await total(db, tenant.environments["development"], "acme", "storage") == 1e15


async def test_bad_items_of_a_batch_record_nothing(gql: GraphQLClient, tenant: Tenant,
                                                   db: Database) -> None:
    await setup(gql, "acme")
    usages = [{"customerId": "ghost", "featureId": "storage", "value": 1},
              {"customerId": "acme", "featureId": "sso", "value": 1},
              {"customerId": "acme", "featureId": "storage", "value": -3, "mode": "SET"},
              {"customerId": "acme", "featureId": "storage", "value": 1, "idempotencyKey": ""}]
    payload = await gql.mutate(BATCH, {"i": {"usages": usages}})
    assert [codes(r) for r in payload["results"]] == [
        ["CUSTOMER_NOT_FOUND"], ["INVALID_INPUT"], ["INVALID_INPUT"], ["INVALID_INPUT"]]
    await _nothing_recorded(db, tenant, "storage", "sso")


async def test_bad_events_record_nothing(gql: GraphQLClient, tenant: Tenant,
                                         db: Database) -> None:
    await setup(gql, "acme")
    r = await send_events(
        gql, event("acme", "api_call", ""), event("ghost", "api_call", "g"),
        event("acme", "api_call", "f", timestamp="2199-01-01T00:00:00Z"),
        event("acme", "api_call", "d", dimensions=[1, 2]), event("acme", "", "n"),
        event("acme", "api_call", "y", timestamp="1970-01-01T00:00:00Z"))
    assert r["accepted"] == 0 and sorted(codes(r)) == ["CUSTOMER_NOT_FOUND"] + [
        "INVALID_INPUT"] * 5
    await _nothing_recorded(db, tenant, "api-calls")


async def test_client_key_cannot_report(gql: GraphQLClient, tenant: Tenant,
                                        db: Database) -> None:
    await setup(gql, "acme")
    client = gql.with_key(tenant.client_key)
    for query, variables in (
            (REPORT, {"i": {"customerId": "acme", "featureId": "storage", "value": 1}}),
            (BATCH, {"i": {"usages": [{"customerId": "acme", "featureId": "storage",
                                       "value": 1}]}})):
        body = (await client.post(query, variables)).json()
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    await _nothing_recorded(db, tenant, "storage")


async def test_overflowing_events_are_a_typed_error(gql: GraphQLClient, tenant: Tenant,
                                                    db: Database) -> None:
    await setup(gql, "acme")
    env = tenant.environments["development"]
    # As strings: JSON numbers are bounded to ±2^53 by the JSON scalar (issue 9).
    big = {"tokens": "1e308"}
    r = await send_events(gql, event("acme", "llm", "b1", dimensions=big))
    assert r["accepted"] == 1
    for batch in ([event("acme", "llm", "b2", dimensions=big)],  # across batches
                  [event("acme", "llm", "b3", dimensions={"tokens": "-1e308"}),
                   event("acme", "llm", "b4", dimensions={"tokens": "-1e308"})]):  # within one
        r = await send_events(gql, *batch)
        assert r["accepted"] == 0 and codes(r) == ["INVALID_INPUT"]
    assert await total(db, env, "acme", "tokens") == 1e308
    assert await key_count(db, env, "usage_events") == 1
