"""What a subscription gets from the catalog: a variable entitlement's catalog value is its
default (issue 10 item 10), and a parent plan's publish leaves the subscribers of its child
plans on the ancestor versions they had unless the publish migrates them (issue 10 item 8)."""

from __future__ import annotations

import copy
from typing import Any

from tests.graphql.entitlements.catalog import CATALOG, apply_catalog, check, new_customer
from tests.graphql.entitlements.conftest import codes, subscribe, subscribed
from tests.support import GraphQLClient


def _with_default_seats(limit: int | None) -> dict[str, Any]:
    """The engine catalog with `enterprise` seats variable, with a catalog value or none."""
    doc = copy.deepcopy(CATALOG)
    (enterprise,) = [p for p in doc["products"][0]["plans"] if p["id"] == "enterprise"]
    seats: dict[str, Any] = {"variable": True}
    if limit is not None:
        seats["limit"] = limit
    enterprise["entitlements"]["seats"] = seats
    return doc


# --- variable entitlements: the catalog value is the default ----------------------------------


async def test_a_variable_entitlement_without_a_value_uses_the_catalog_default(
    gql: GraphQLClient,
) -> None:
    await apply_catalog(gql, _with_default_seats(50))
    await new_customer(gql, "acme")
    sub = await subscribed(gql, customerId="acme", planId="enterprise")
    assert sub["entitlements"] == []  # nothing negotiated: the plan version's value applies
    seats = await check(gql, "acme", "seats")
    assert seats["hasAccess"] is True
    assert seats["usageLimit"] == 50
    (effective,) = [s for s in seats["sources"] if s["isEffective"]]
    assert (effective["kind"], effective["planId"]) == ("PLAN", "enterprise")


async def test_a_negotiated_value_replaces_the_default(gql: GraphQLClient) -> None:
    await apply_catalog(gql, _with_default_seats(50))
    await new_customer(gql, "acme")
    await subscribed(
        gql,
        customerId="acme",
        planId="enterprise",
        entitlements=[{"featureId": "seats", "limit": 20}],
    )
    assert (await check(gql, "acme", "seats"))["usageLimit"] == 20


async def test_a_variable_entitlement_without_any_value_is_still_refused(
    gql: GraphQLClient,
) -> None:
    await apply_catalog(gql, _with_default_seats(None))
    await new_customer(gql, "acme")
    payload = await subscribe(gql, customerId="acme", planId="enterprise")
    assert codes(payload) == ["INVALID_INPUT"]
    assert payload["errors"][0]["field"] == ["entitlements"]
    assert "seats" in payload["errors"][0]["message"]


# --- parent publishes: a child's version binds its ancestors' versions ------------------------

LADDER: dict[str, Any] = {
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
            ],
        }
    ],
}

PLAN = """query($id: String!) { plan(id: $id) { version
  versions { version parentPlanId parentPlanVersion migrateExistingSubscriptions } } }"""
UPDATE_PLAN = """mutation($input: UpdatePlanInput!) { updatePlan(input: $input) {
  errors { code message field } } }"""
PUBLISH_PLAN = """mutation($input: PublishInput!) { publishPlan(input: $input) {
  plan { version } errors { code message field } } }"""


async def _publish_mid_seats(gql: GraphQLClient, seats: int, migrate: bool) -> None:
    edit = {"id": "mid", "entitlements": [{"featureId": "seats", "limit": seats}]}
    assert (await gql.mutate(UPDATE_PLAN, {"input": edit}))["errors"] == []
    publish = {"id": "mid", "migrateExistingSubscriptions": migrate}
    assert (await gql.mutate(PUBLISH_PLAN, {"input": publish}))["errors"] == []


async def _seats(gql: GraphQLClient, customer_id: str) -> float:
    result = await check(gql, customer_id, "seats")
    assert result["hasAccess"] is True, result
    return float(result["usageLimit"])


async def _plan_version(gql: GraphQLClient, customer_id: str) -> int:
    data = await gql.execute(
        "query($id: String!) { customer(id: $id) { subscriptions { planVersion status } } }",
        {"id": customer_id},
    )
    (sub,) = [s for s in data["customer"]["subscriptions"] if s["status"] == "ACTIVE"]
    return int(sub["planVersion"])


async def test_a_parent_publish_without_migration_keeps_child_subscribers_entitlements(
    gql: GraphQLClient,
) -> None:
    await apply_catalog(gql, LADDER)
    for customer_id, plan_id in (("on-top", "top"), ("on-max", "max"), ("on-mid", "mid")):
        await new_customer(gql, customer_id, subscription={"planId": plan_id})
        assert await _seats(gql, customer_id) == 10

    await _publish_mid_seats(gql, 12, migrate=False)

    # Existing subscribers keep what they had: mid's own, and the children's through mid.
    for customer_id in ("on-top", "on-max", "on-mid"):
        assert await _seats(gql, customer_id) == 10, customer_id
        assert await _plan_version(gql, customer_id) == 1, customer_id
    # New subscribers of every plan below mid get mid v2: its children got new versions.
    for customer_id, plan_id in (("new-top", "top"), ("new-max", "max")):
        await new_customer(gql, customer_id, subscription={"planId": plan_id})
        assert await _seats(gql, customer_id) == 12, customer_id
        assert await _plan_version(gql, customer_id) == 2, customer_id

    top = (await gql.execute(PLAN, {"id": "top"}))["plan"]
    assert top["version"] == 2
    assert [
        (v["version"], v["parentPlanVersion"], v["migrateExistingSubscriptions"])
        for v in top["versions"]
    ] == [(2, 2, False), (1, 1, False)]
    max_plan = (await gql.execute(PLAN, {"id": "max"}))["plan"]
    assert [(v["version"], v["parentPlanVersion"]) for v in max_plan["versions"]] == [
        (2, 2),
        (1, 1),
    ]


async def test_a_parent_publish_with_migration_moves_child_subscribers_too(
    gql: GraphQLClient,
) -> None:
    await apply_catalog(gql, LADDER)
    for customer_id, plan_id in (("on-top", "top"), ("on-max", "max"), ("on-mid", "mid")):
        await new_customer(gql, customer_id, subscription={"planId": plan_id})
    await _publish_mid_seats(gql, 12, migrate=False)
    await new_customer(gql, "new-top", subscription={"planId": "top"})

    await _publish_mid_seats(gql, 15, migrate=True)

    for customer_id in ("on-top", "on-max", "on-mid", "new-top"):
        assert await _seats(gql, customer_id) == 15, customer_id
        assert await _plan_version(gql, customer_id) == 3, customer_id
    top = (await gql.execute(PLAN, {"id": "top"}))["plan"]
    newest = top["versions"][0]
    assert (newest["version"], newest["parentPlanVersion"]) == (3, 3)
    assert newest["migrateExistingSubscriptions"] is True


DRAFT_STATE = """query($id: String!) { plan(id: $id) { version hasDraft parentPlanVersion
  draft { entitlements { featureId } } } }"""


async def test_a_child_draft_survives_a_parent_publish_and_binds_when_published(
    gql: GraphQLClient,
) -> None:
    await apply_catalog(gql, LADDER)
    edit = {"id": "top", "entitlements": [{"featureId": "sso"}, {"featureId": "seats", "limit": 5}]}
    assert (await gql.mutate(UPDATE_PLAN, {"input": edit}))["errors"] == []
    await _publish_mid_seats(gql, 12, migrate=False)

    top = (await gql.execute(DRAFT_STATE, {"id": "top"}))["plan"]
    assert (top["version"], top["hasDraft"], top["parentPlanVersion"]) == (2, True, 2)
    assert [e["featureId"] for e in top["draft"]["entitlements"]] == ["seats", "sso"]
    assert (await gql.mutate(PUBLISH_PLAN, {"input": {"id": "top"}}))["errors"] == []
    top = (await gql.execute(DRAFT_STATE, {"id": "top"}))["plan"]
    assert (top["version"], top["hasDraft"], top["parentPlanVersion"]) == (3, False, 2)


async def test_a_migrating_parent_publish_moves_subscribers_of_an_archived_child(
    gql: GraphQLClient,
) -> None:
    await apply_catalog(gql, LADDER)
    await new_customer(gql, "on-max", subscription={"planId": "max"})
    archived = await gql.mutate('mutation { archivePlan(input: {id: "max"}) { errors { code } } }')
    assert archived["errors"] == []
    await _publish_mid_seats(gql, 12, migrate=False)
    assert await _seats(gql, "on-max") == 10
    await _publish_mid_seats(gql, 15, migrate=True)
    assert await _seats(gql, "on-max") == 15
