"""A publish marks stale only the cached entitlements of the customers it may change: those
subscribed to the plan or a plan below it, or holding the add-on. Everybody else's cached row
is left as it was (not even rewritten), and every check answers as a full recomputation would.
"""

from __future__ import annotations

import uuid
from typing import Any

from app.db import Database
from tests.graphql.entitlements.catalog import apply_catalog, check, new_customer
from tests.support import GraphQLClient, Tenant

DOC: dict[str, Any] = {
    "features": [
        {"id": "seats", "type": "METERED", "unit": "seat"},
        {"id": "sso", "type": "BOOLEAN"},
    ],
    "products": [
        {
            "id": "app",
            "plans": [
                {"id": "mid", "pricingType": "FREE", "entitlements": {"seats": {"limit": 10}}},
                {"id": "top", "parent": "mid", "pricingType": "FREE", "entitlements": {"sso": {}}},
                {"id": "max", "parent": "top", "pricingType": "FREE"},
                {"id": "solo", "pricingType": "FREE", "entitlements": {"seats": {"limit": 4}}},
            ],
            "addons": [
                {
                    "id": "boost",
                    "maxQuantity": 3,
                    "compatiblePlans": ["solo"],
                    "entitlements": {"seats": {"limit": 5, "behavior": "INCREMENT"}},
                }
            ],
        }
    ],
}
CUSTOMERS: dict[str, dict[str, Any] | None] = {
    "on-mid": {"planId": "mid"},
    "on-top": {"planId": "top"},
    "on-max": {"planId": "max"},
    "on-solo": {"planId": "solo"},
    "solo-boost": {"planId": "solo", "addons": [{"addonId": "boost", "quantity": 2}]},
    "nobody": None,  # no subscription: nothing of the catalog counts for it
}
UPDATE = """mutation($input: Update%sInput!) { update%s(input: $input) { errors { code } } }"""
PUBLISH = """mutation($input: PublishInput!) { publish%s(input: $input) { errors { code } } }"""


async def _setup(gql: GraphQLClient) -> None:
    await apply_catalog(gql, DOC)
    for customer_id, subscription in CUSTOMERS.items():
        extra = {} if subscription is None else {"subscription": subscription}
        await new_customer(gql, customer_id, **extra)
        await check(gql, customer_id, "seats")  # its cached entitlements exist


async def _cache(db: Database, env: uuid.UUID) -> dict[str, tuple[str, Any]]:
    """Each customer's cached row: (its version, valid_until)."""
    pool = await db.pool()
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT c.id, ce.xmin::text AS version, ce.valid_until FROM customers c "
            "JOIN customer_entitlements ce ON ce.customer_pk = c.pk WHERE c.environment_pk = $1",
            env,
        )
    return {r["id"]: (r["version"], r["valid_until"]) for r in rows}


async def _publish(gql: GraphQLClient, kind: str, package_id: str, seats: int) -> None:
    entitlement: dict[str, Any] = {"featureId": "seats", "limit": seats}
    if kind == "Addon":
        entitlement["behavior"] = "INCREMENT"
    edit = {"id": package_id, "entitlements": [entitlement]}
    assert (await gql.mutate(UPDATE % (kind, kind), {"input": edit}))["errors"] == []
    publish = {"id": package_id, "migrateExistingSubscriptions": True}
    assert (await gql.mutate(PUBLISH % kind, {"input": publish}))["errors"] == []


async def _seats(gql: GraphQLClient) -> dict[str, float | None]:
    out = {}
    for customer_id in CUSTOMERS:
        result = await check(gql, customer_id, "seats")
        out[customer_id] = result["usageLimit"] if result["hasAccess"] else None
    return out


async def _stale_after(
    gql: GraphQLClient, db: Database, env: uuid.UUID, kind: str, package_id: str, seats: int
) -> set[str]:
    before = await _cache(db, env)
    assert set(before) == set(CUSTOMERS)
    await _publish(gql, kind, package_id, seats)
    after = await _cache(db, env)
    return {c for c in CUSTOMERS if after[c] != before[c]}


async def test_a_plan_publish_marks_its_subscribers_and_those_below_it(
    gql: GraphQLClient, db: Database, tenant: Tenant
) -> None:
    env = tenant.environments["development"]
    await _setup(gql)
    assert await _stale_after(gql, db, env, "Plan", "mid", 15) == {"on-mid", "on-top", "on-max"}
    assert await _seats(gql) == {
        "on-mid": 15,
        "on-top": 15,
        "on-max": 15,
        "on-solo": 4,
        "solo-boost": 14,
        "nobody": None,
    }


async def test_a_child_plan_publish_leaves_its_parent_subscribers_alone(
    gql: GraphQLClient, db: Database, tenant: Tenant
) -> None:
    env = tenant.environments["development"]
    await _setup(gql)
    assert await _stale_after(gql, db, env, "Plan", "top", 20) == {"on-top", "on-max"}
    assert (await _seats(gql))["on-max"] == 20
    assert (await _seats(gql))["on-mid"] == 10


async def test_an_addon_publish_marks_only_its_holders(
    gql: GraphQLClient, db: Database, tenant: Tenant
) -> None:
    env = tenant.environments["development"]
    await _setup(gql)
    assert await _stale_after(gql, db, env, "Addon", "boost", 7) == {"solo-boost"}
    assert await _seats(gql) == {
        "on-mid": 10,
        "on-top": 10,
        "on-max": 10,
        "on-solo": 4,
        "solo-boost": 18,
        "nobody": None,
    }
