"""Shared by the usage tests: a catalog with every kind of metered feature, the GraphQL
operations of issue 4, and direct reads of the usage tables (the system of record)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from app.db import Database
from tests.graphql.entitlements.catalog import apply_catalog, new_customer
from tests.support import GraphQLClient


def meter(event: str, aggregation: str = "COUNT", field: str | None = None,
          **filters: tuple[str, list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {"eventName": event, "aggregation": aggregation}
    if field:
        out["field"] = field
    if filters:
        out["filters"] = [{"dimension": d, "operator": op, "values": values}
                          for d, (op, values) in filters.items()]
    return out


MONTHLY = {"resetPeriod": "MONTH"}

USAGE_CATALOG: dict[str, Any] = {
    "features": [
        {"id": "seats", "type": "METERED"},  # calculated, never resets, hard 3
        {"id": "storage", "type": "METERED"},  # calculated, soft 100
        {"id": "messages", "type": "METERED"},  # calculated, unlimited
        {"id": "requests", "type": "METERED"},  # calculated, 100 a month (DAY on `daily`)
        {"id": "slots", "type": "METERED"},  # calculated, hard 50 (concurrency)
        {"id": "sso", "type": "BOOLEAN"},
        {"id": "api-calls", "type": "METERED", "meter": meter("api_call")},
        {"id": "tokens", "type": "METERED", "meter": meter("llm", "SUM", "tokens")},
        {"id": "peak", "type": "METERED", "meter": meter("gauge", "MAX", "value")},
        {"id": "level", "type": "METERED", "meter": meter("gauge", "LATEST", "value")},
        {"id": "users", "type": "METERED", "meter": meter("login", "UNIQUE_COUNT", "user")},
        {"id": "eu-calls", "type": "METERED",
         "meter": meter("api_call", region=("EQUALS", ["eu"]))},
        {"id": "non-eu-calls", "type": "METERED",
         "meter": meter("api_call", region=("NOT_EQUALS", ["eu"]))},
        {"id": "big-calls", "type": "METERED",
         "meter": meter("api_call", size=("IN", ["l", "xl"]))},
        {"id": "small-calls", "type": "METERED",
         "meter": meter("api_call", size=("NOT_IN", ["l", "xl"]))},
    ],
    "products": [{
        "id": "app", "name": "App", "multipleSubscriptions": False, "defaultPlan": "basic",
        "plans": [
            {"id": "basic", "pricingType": "FREE", "entitlements": {
                "seats": {"limit": 3},
                "storage": {"limit": 100, "softLimit": True},
                "messages": {"unlimited": True},
                "requests": {"limit": 100, **MONTHLY},
                "slots": {"limit": 50},
                "sso": {},
                "api-calls": {"limit": 1000, **MONTHLY},
                "tokens": {"limit": 1000, **MONTHLY},
                "peak": {"limit": 100, **MONTHLY},
                "level": {"limit": 100, **MONTHLY},
                "users": {"limit": 10, **MONTHLY},
                "eu-calls": {"limit": 10, **MONTHLY},
                "non-eu-calls": {"limit": 10, **MONTHLY},
                "big-calls": {"limit": 10, **MONTHLY},
                "small-calls": {"limit": 10, **MONTHLY},
            }},
            # Same reset period as basic, a larger limit: the counter carries over.
            {"id": "plus", "parent": "basic", "pricingType": "FREE",
             "entitlements": {"requests": {"limit": 500, **MONTHLY}}},
            # Another reset period: the counter starts over.
            {"id": "daily", "pricingType": "FREE",
             "entitlements": {"requests": {"limit": 1000, "resetPeriod": "DAY"}}},
            # Calendar months (resets on the 1st).
            {"id": "calendar", "pricingType": "FREE",
             "entitlements": {"requests": {"limit": 100, "resetPeriod": "MONTH",
                                           "resetAnchor": "CALENDAR"}}},
        ],
    }],
}

REPORT = """mutation($i: ReportUsageInput!) { reportUsage(input: $i) { accepted
  usage { customerId featureId resourceId currentUsage usageLimit periodStart periodEnd }
  errors { code message field } } }"""

BATCH = """mutation($i: ReportUsageBatchInput!) { reportUsageBatch(input: $i) {
  results { accepted usage { currentUsage usageLimit periodStart } errors { code field } }
  errors { code message field } } }"""

EVENTS = """mutation($i: ReportEventsInput!) { reportEvents(input: $i) { accepted duplicates
  errors { code message field } } }"""

HISTORY = """query($c: String!, $f: String!, $from: DateTime!, $to: DateTime, $r: String) {
  usageHistory(customerId: $c, featureId: $f, from: $from, to: $to, resourceId: $r) {
    periodStart periodEnd usage } }"""

CHECK = """query($c: String!, $f: String!, $n: Float, $r: String) {
  entitlement(customerId: $c, featureId: $f, requestedUsage: $n, resourceId: $r) {
    hasAccess denyReason isUnlimited isSoftLimit usageLimit currentUsage remaining
    usagePeriodStart usagePeriodEnd } }"""


async def setup(gql: GraphQLClient, *customers: str) -> None:
    """The usage catalog, and customers on its default plan (`basic`)."""
    await apply_catalog(gql, USAGE_CATALOG)
    for customer_id in customers:
        await new_customer(gql, customer_id)


async def report(gql: GraphQLClient, customer: str, feature: str, value: float,
                 **extra: Any) -> dict[str, Any]:
    """reportUsage; the payload (accepted, usage, errors)."""
    item = {"customerId": customer, "featureId": feature, "value": value, **extra}
    return await gql.mutate(REPORT, {"i": item})  # type: ignore[no-any-return]


async def reported(gql: GraphQLClient, customer: str, feature: str, value: float,
                   **extra: Any) -> float:
    """reportUsage that must be accepted: the current usage after it."""
    payload = await report(gql, customer, feature, value, **extra)
    assert payload["accepted"] and payload["errors"] == [], payload
    return float(payload["usage"]["currentUsage"])


async def send_events(gql: GraphQLClient, *events: dict[str, Any]) -> dict[str, Any]:
    return await gql.mutate(EVENTS, {"i": {"events": list(events)}})  # type: ignore[no-any-return]


def event(customer: str, name: str, key: str, **extra: Any) -> dict[str, Any]:
    return {"customerId": customer, "eventName": name, "idempotencyKey": key, **extra}


async def usage_of(gql: GraphQLClient, customer: str, feature: str,
                   resource: str | None = None) -> float:
    """currentUsage as an entitlement check sees it."""
    data = await gql.execute(CHECK, {"c": customer, "f": feature, "r": resource})
    return float(data["entitlement"]["currentUsage"] or 0)


async def check(gql: GraphQLClient, customer: str, feature: str,
                requested: float | None = None, resource: str | None = None) -> dict[str, Any]:
    data = await gql.execute(CHECK, {"c": customer, "f": feature, "n": requested,
                                     "r": resource})
    return data["entitlement"]  # type: ignore[no-any-return]


async def history(gql: GraphQLClient, customer: str, feature: str, start: datetime,
                  end: datetime | None = None, resource: str | None = None
                  ) -> list[dict[str, Any]]:
    variables = {"c": customer, "f": feature, "from": start.isoformat(),
                 "to": end.isoformat() if end else None, "r": resource}
    return (await gql.execute(HISTORY, variables))["usageHistory"]  # type: ignore[no-any-return]


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["errors"]]


# --- the tables themselves ---------------------------------------------------------------


async def customer_pk(db: Database, env: uuid.UUID, customer_id: str) -> uuid.UUID:
    pool = await db.pool()
    async with pool.acquire() as conn:
        pk = await conn.fetchval(
            "SELECT pk FROM customers WHERE environment_pk = $1 AND id = $2", env, customer_id)
    assert pk is not None, customer_id
    return pk  # type: ignore[no-any-return]


async def counters(db: Database, env: uuid.UUID, customer_id: str, feature_id: str
                   ) -> dict[tuple[str, datetime], float]:
    """Every stored counter of a customer's feature: (resource key, period start) → value."""
    pk = await customer_pk(db, env, customer_id)
    pool = await db.pool()
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT resource_key, period_start, value FROM usage_counters "
            "WHERE customer_pk = $1 AND feature_id = $2", pk, feature_id)
    return {(r["resource_key"], r["period_start"]): float(r["value"]) for r in rows}


async def total(db: Database, env: uuid.UUID, customer_id: str, feature_id: str) -> float:
    return sum((await counters(db, env, customer_id, feature_id)).values())


async def crossings(db: Database, env: uuid.UUID, customer_id: str, feature_id: str
                    ) -> list[tuple[datetime, int]]:
    """The recorded threshold crossings: (period start, threshold), sorted."""
    pk = await customer_pk(db, env, customer_id)
    pool = await db.pool()
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT period_start, threshold FROM usage_threshold_crossings "
            "WHERE environment_pk = $1 AND customer_pk = $2 AND feature_id = $3 "
            "ORDER BY period_start, threshold", env, pk, feature_id)
    return [(r["period_start"], r["threshold"]) for r in rows]


async def key_count(db: Database, env: uuid.UUID, table: str = "usage_idempotency_keys") -> int:
    assert table in ("usage_idempotency_keys", "usage_events")
    pool = await db.pool()
    async with pool.acquire() as conn:
        return int(await conn.fetchval(
            f"SELECT count(*) FROM {table} WHERE environment_pk = $1", env))
