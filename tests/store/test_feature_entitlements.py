"""A customer's computed entitlements are stored one row per feature (migration 0015): a
check reads its feature's row only, a recomputation rewrites only the rows that changed and
removes the features the customer no longer has."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from app.db import Database
from app.store import customers as store
from tests.graphql.entitlements.catalog import apply_catalog, check, new_customer
from tests.graphql.usage.helpers import customer_pk
from tests.support import GraphQLClient, Tenant

NOW = datetime(2031, 1, 10, 12, 0, tzinfo=UTC)


def _granted(feature: str) -> dict[str, Any]:
    return {"feature_id": feature, "feature_type": "BOOLEAN", "granted": True, "sources": []}


async def _rows(db: Database, pk: uuid.UUID) -> dict[str, tuple[str, dict[str, Any]]]:
    """{feature: (row version, entitlement)} as stored."""
    pool = await db.pool()
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT feature_id, xmin::text AS version, entitlement "
            "FROM customer_feature_entitlements WHERE customer_pk = $1", pk)
    return {r["feature_id"]: (r["version"], r["entitlement"]) for r in rows}


async def _save(db: Database, env: uuid.UUID, pk: uuid.UUID, doc: dict[str, Any]) -> None:
    async with db.transaction() as session:
        await store.save_entitlements(session, pk, env, doc, True, None, NOW)


async def test_rows_follow_the_computed_entitlements(
    gql: GraphQLClient, tenant: Tenant, db: Database
) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    env = tenant.environments["development"]
    pk = await customer_pk(db, env, "acme")

    await _save(db, env, pk, {"sso": _granted("sso"), "audit-log": _granted("audit-log")})
    first = await _rows(db, pk)
    assert set(first) == {"sso", "audit-log"}

    await _save(db, env, pk, {"sso": _granted("sso"), "regions": _granted("regions")})
    second = await _rows(db, pk)
    assert set(second) == {"sso", "regions"}  # audit-log's row is gone
    assert second["sso"][0] == first["sso"][0]  # unchanged: not rewritten

    async with db.session() as session:
        cached = await store.cached_entitlements(session, [pk])
    assert cached[pk].entitlements == {"sso": _granted("sso"), "regions": _granted("regions")}

    await _save(db, env, pk, {})
    assert await _rows(db, pk) == {}
    async with db.session() as session:
        assert (await store.cached_entitlements(session, [pk]))[pk].entitlements == {}


async def test_a_check_reads_its_features_row(
    gql: GraphQLClient, tenant: Tenant, db: Database
) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme", subscription={"planId": "pro", "skipTrial": True})
    env = tenant.environments["development"]
    pk = await customer_pk(db, env, "acme")
    assert (await check(gql, "acme", "sso"))["hasAccess"] is True
    # The stored row is what the check answers from: take it away (keeping the customer's
    # state row fresh) and the check says the customer is not entitled.
    pool = await db.pool()
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM customer_feature_entitlements "
                           "WHERE customer_pk = $1 AND feature_id = 'sso'", pk)
    answer = await check(gql, "acme", "sso")
    assert answer["hasAccess"] is False and answer["denyReason"] == "NOT_ENTITLED"
