"""Plans through GraphQL: pricing types, parents, trials, entitlements and prices, and every
way to get them wrong (each refusal changes nothing)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.graphql.catalog_helpers import (
    PLAN_FIELDS,
    by_feature,
    ok,
    plan,
    refused,
    snapshot,
    standard_catalog,
)
from tests.support import GraphQLClient


@pytest.fixture
async def catalog(gql: GraphQLClient) -> GraphQLClient:
    """Features seats, api-calls, sso, retention-days, region (eu/us/apac); product app."""
    await standard_catalog(gql)
    return gql


async def test_plan_starts_as_a_draft(catalog: GraphQLClient) -> None:
    created = await plan(catalog, "pro", name="Pro", description="For teams")
    assert (created["id"], created["name"], created["description"]) == ("pro", "Pro", "For teams")
    assert created["productId"] == "app"
    assert (created["version"], created["hasDraft"], created["isArchived"]) == (None, True, False)
    assert created["pricingType"] == "PAID"  # the default
    assert created["parentPlanId"] is None
    assert created["defaultTrial"] is None
    assert (created["entitlements"], created["prices"], created["versions"]) == ([], [], [])
    assert created["draft"]["isDraft"] is True
    assert created["draft"]["version"] is None
    assert created["draft"]["maxQuantity"] is None
    assert created["draft"]["compatiblePlanIds"] is None
    query = f'{{ plan(id: "pro") {{ {PLAN_FIELDS} }} }}'
    assert (await catalog.execute(query))["plan"] == created


async def test_publish_on_create(catalog: GraphQLClient) -> None:
    created = await plan(catalog, "free", pricingType="FREE", publish=True)
    assert (created["version"], created["hasDraft"], created["draft"]) == (1, False, None)
    (v1,) = created["versions"]
    assert (v1["version"], v1["isDraft"], v1["pricingType"]) == (1, False, "FREE")
    assert v1["publishedAt"] is not None
    assert v1["migrateExistingSubscriptions"] is False


@pytest.mark.parametrize("pricing", ["FREE", "PAID", "CUSTOM"])
async def test_pricing_types(catalog: GraphQLClient, pricing: str) -> None:
    assert (await plan(catalog, "p", pricingType=pricing))["pricingType"] == pricing


async def test_entitlements_of_every_feature_type(catalog: GraphQLClient) -> None:
    entitlements = [
        {"featureId": "seats", "limit": 10, "softLimit": True},
        {"featureId": "api-calls", "limit": 1000, "resetPeriod": "MONTH"},
        {"featureId": "sso"},
        {"featureId": "retention-days", "value": 30},
        {"featureId": "region", "enumValues": ["us", "eu", "us"]},
    ]
    created = await plan(catalog, "pro", entitlements=entitlements, publish=True)
    got = by_feature(created["entitlements"])
    assert list(got) == ["api-calls", "region", "retention-days", "seats", "sso"]
    assert got["seats"] == {
        "featureId": "seats",
        "usageLimit": 10.0,
        "isUnlimited": False,
        "isSoftLimit": True,
        "resetPeriod": None,
        "resetAnchor": None,
        "value": None,
        "enumValues": None,
        "isVariable": False,
        "behavior": None,
    }
    assert (got["api-calls"]["usageLimit"], got["api-calls"]["isSoftLimit"]) == (1000.0, False)
    assert got["api-calls"]["resetPeriod"] == "MONTH"
    assert got["api-calls"]["resetAnchor"] == "SUBSCRIPTION_START"  # the default anchor
    assert got["sso"]["usageLimit"] is None
    assert got["retention-days"]["value"] == 30.0
    assert got["region"]["enumValues"] == ["eu", "us"]  # deduplicated, in the feature's order
    assert created["versions"][0]["entitlements"] == created["entitlements"]


async def test_unlimited_and_calendar_reset(catalog: GraphQLClient) -> None:
    entitlements = [
        {"featureId": "seats", "unlimited": True},
        {
            "featureId": "api-calls",
            "limit": 0.5,
            "resetPeriod": "HOUR",
            "resetAnchor": "CALENDAR",
        },
    ]
    got = by_feature((await plan(catalog, "pro", entitlements=entitlements))["entitlements"])
    assert (got["seats"]["isUnlimited"], got["seats"]["usageLimit"]) == (True, None)
    assert got["api-calls"]["usageLimit"] == 0.5
    assert (got["api-calls"]["resetPeriod"], got["api-calls"]["resetAnchor"]) == (
        "HOUR",
        "CALENDAR",
    )


async def test_limits_up_to_a_quadrillion(catalog: GraphQLClient) -> None:
    created = await plan(catalog, "big", entitlements=[{"featureId": "seats", "limit": 1e15}])
    assert created["entitlements"][0]["usageLimit"] == 1e15
    # Larger numbers are refused (use unlimited): they would not come back exactly.
    for huge in (1e15 + 2, 1e300):
        await refused(
            catalog,
            "updatePlan",
            {"id": "big", "entitlements": [{"featureId": "seats", "limit": huge}]},
            "INVALID_ENTITLEMENT",
            ["entitlements", "seats", "limit"],
        )
    await refused(
        catalog,
        "updatePlan",
        {"id": "big", "entitlements": [{"featureId": "retention-days", "value": -1e16}]},
        "INVALID_ENTITLEMENT",
        ["entitlements", "retention-days", "value"],
    )


async def test_variable_entitlements_on_a_custom_plan(catalog: GraphQLClient) -> None:
    entitlements = [
        {"featureId": "seats", "variable": True},
        {"featureId": "retention-days", "variable": True, "value": 90},
        {"featureId": "region", "variable": True},
    ]
    created = await plan(catalog, "enterprise", pricingType="CUSTOM", entitlements=entitlements)
    got = by_feature(created["entitlements"])
    assert all(e["isVariable"] for e in got.values())
    assert got["seats"]["usageLimit"] is None
    assert got["retention-days"]["value"] == 90.0
    # A CUSTOM plan with variable entitlements cannot become PAID.
    await refused(
        catalog,
        "updatePlan",
        {"id": "enterprise", "pricingType": "PAID"},
        "INVALID_ENTITLEMENT",
        ["entitlements", "region", "variable"],
    )


def _e(feature: str, **options: Any) -> list[dict[str, Any]]:
    return [{"featureId": feature, **options}]


BAD_ENTITLEMENTS: list[tuple[str, dict[str, Any], str, list[str]]] = [
    ("value on metered", {"entitlements": _e("seats", value=3)}, "INVALID_ENTITLEMENT",
     ["entitlements", "seats", "value"]),
    ("enumValues on metered", {"entitlements": _e("seats", limit=1, enumValues=["eu"])},
     "INVALID_ENTITLEMENT", ["entitlements", "seats", "enumValues"]),
    ("limit on boolean", {"entitlements": _e("sso", limit=1)}, "INVALID_ENTITLEMENT",
     ["entitlements", "sso", "limit"]),
    ("value on boolean", {"entitlements": _e("sso", value=1)}, "INVALID_ENTITLEMENT",
     ["entitlements", "sso", "value"]),
    ("limit on configuration", {"entitlements": _e("retention-days", value=1, limit=2)},
     "INVALID_ENTITLEMENT", ["entitlements", "retention-days", "limit"]),
    ("resetPeriod on configuration",
     {"entitlements": _e("retention-days", value=1, resetPeriod="DAY")},
     "INVALID_ENTITLEMENT", ["entitlements", "retention-days", "resetPeriod"]),
    ("enumValues on a NUMBER", {"entitlements": _e("retention-days", enumValues=["eu"])},
     "INVALID_ENTITLEMENT", ["entitlements", "retention-days", "enumValues"]),
    ("value on an ENUM", {"entitlements": _e("region", value=1)}, "INVALID_ENTITLEMENT",
     ["entitlements", "region", "value"]),
    ("enum value not in the feature", {"entitlements": _e("region", enumValues=["eu", "mars"])},
     "INVALID_ENTITLEMENT", ["entitlements", "region", "enumValues", "1"]),
    ("empty enum values", {"entitlements": _e("region", enumValues=[])}, "INVALID_ENTITLEMENT",
     ["entitlements", "region", "enumValues"]),
    ("negative limit", {"entitlements": _e("seats", limit=-1)}, "INVALID_ENTITLEMENT",
     ["entitlements", "seats", "limit"]),
    ("limit and unlimited", {"entitlements": _e("seats", limit=5, unlimited=True)},
     "INVALID_ENTITLEMENT", ["entitlements", "seats", "limit"]),
    ("metered without limit", {"entitlements": _e("seats")}, "INVALID_ENTITLEMENT",
     ["entitlements", "seats", "limit"]),
    ("metered with unlimited false", {"entitlements": _e("seats", unlimited=False)},
     "INVALID_ENTITLEMENT", ["entitlements", "seats", "limit"]),
    ("configuration without value", {"entitlements": _e("retention-days")},
     "INVALID_ENTITLEMENT", ["entitlements", "retention-days", "value"]),
    ("enum without values", {"entitlements": _e("region")}, "INVALID_ENTITLEMENT",
     ["entitlements", "region", "enumValues"]),
    ("anchor without period", {"entitlements": _e("seats", limit=1, resetAnchor="CALENDAR")},
     "INVALID_ENTITLEMENT", ["entitlements", "seats", "resetAnchor"]),
    ("variable on a PAID plan", {"entitlements": _e("seats", variable=True)},
     "INVALID_ENTITLEMENT", ["entitlements", "seats", "variable"]),
    ("variable on a FREE plan",
     {"pricingType": "FREE", "entitlements": _e("seats", limit=1, variable=True)},
     "INVALID_ENTITLEMENT", ["entitlements", "seats", "variable"]),
    ("behavior on a plan", {"entitlements": _e("seats", limit=1, behavior="OVERRIDE")},
     "INVALID_ENTITLEMENT", ["entitlements", "seats", "behavior"]),
    ("unknown feature", {"entitlements": _e("nope")}, "FEATURE_NOT_FOUND",
     ["entitlements", "nope"]),
    ("feature listed twice",
     {"entitlements": [{"featureId": "sso"}, {"featureId": "sso"}]},
     "INVALID_INPUT", ["entitlements", "sso"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [c[1:] for c in BAD_ENTITLEMENTS],
    ids=[c[0] for c in BAD_ENTITLEMENTS],
)
async def test_invalid_entitlement_is_refused(
    catalog: GraphQLClient, fields: dict[str, Any], code: str, field: list[str]
) -> None:
    await refused(catalog, "createPlan", {"id": "p", "productId": "app", **fields}, code, field)
    # The same content as an update of an existing, published plan: refused, nothing changes.
    await plan(catalog, "p", entitlements=_e("seats", limit=1), publish=True)
    await refused(catalog, "updatePlan", {"id": "p", **fields}, code, field)


@pytest.mark.parametrize(
    ("variables", "fragment"),
    [
        ({"limit": float("nan")}, "limit"),
        ({"limit": float("inf")}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": 5, "resetPeriod": "FORTNIGHT"}, "FORTNIGHT"),
        ({"limit": 5, "color": "red"}, "color"),
    ],
    ids=["NaN", "Infinity", "string", "unknown enum", "unknown option"],
)
async def test_values_graphql_refuses(
    catalog: GraphQLClient, variables: dict[str, Any], fragment: str
) -> None:
    before = await snapshot(catalog)
    query = "mutation($input: CreatePlanInput!) { createPlan(input: $input) { errors { code } } }"
    entitlement = {"featureId": "seats", **variables}
    variables_json = {"input": {"id": "p", "productId": "app", "entitlements": [entitlement]}}
    # json.dumps writes NaN and Infinity as bare words, as a careless client would.
    body = json.dumps({"query": query, "variables": variables_json})
    response = await catalog.http.post(
        "/graphql",
        content=body.encode(),
        headers={"Authorization": f"Bearer {catalog.key}", "Content-Type": "application/json"},
    )
    assert response.status_code in (200, 400), response.text
    answer = response.json()
    assert answer["errors"] and answer.get("data") is None, answer
    if response.status_code == 200:
        assert fragment in answer["errors"][0]["message"], answer
    assert await snapshot(catalog) == before


# --- parents ------------------------------------------------------------------------------


async def test_parent_plans(catalog: GraphQLClient) -> None:
    await plan(catalog, "free", pricingType="FREE", publish=True)
    await plan(catalog, "pro", parentPlanId="free", publish=True)
    enterprise = await plan(catalog, "enterprise", parentPlanId="pro", pricingType="CUSTOM")
    assert enterprise["parentPlanId"] == "pro"
    # null removes the parent (in the draft).
    detached = await ok(catalog, "updatePlan", {"id": "pro", "parentPlanId": None})
    assert detached["draft"]["parentPlanId"] is None
    assert detached["parentPlanId"] == "free"  # the published version is unchanged
    # A plan that is another live plan's parent cannot be archived.
    await refused(catalog, "archivePlan", {"id": "pro"}, "INVALID_INPUT", ["id"])


async def test_parent_failures(catalog: GraphQLClient) -> None:
    await ok(catalog, "createProduct", {"id": "other"})
    await plan(catalog, "elsewhere", productId="other")
    await plan(catalog, "gone")
    await ok(catalog, "archivePlan", {"id": "gone"})
    await plan(catalog, "a")
    for parent in ("nope", "elsewhere", "gone"):
        await refused(
            catalog,
            "createPlan",
            {"id": "b", "productId": "app", "parentPlanId": parent},
            "PLAN_NOT_FOUND",
            ["parentPlanId"],
        )
    await refused(
        catalog,
        "createPlan",
        {"id": "b", "productId": "app", "parentPlanId": "b"},
        "CIRCULAR_PLAN_PARENT",
        ["parentPlanId"],
    )
    await refused(catalog, "updatePlan", {"id": "a", "parentPlanId": "a"}, "CIRCULAR_PLAN_PARENT")


async def test_two_plan_cycle(catalog: GraphQLClient) -> None:
    await plan(catalog, "a", publish=True)
    await plan(catalog, "b", parentPlanId="a", publish=True)
    await refused(
        catalog,
        "updatePlan",
        {"id": "a", "parentPlanId": "b"},
        "CIRCULAR_PLAN_PARENT",
        ["parentPlanId"],
    )


async def test_three_plan_cycle_through_drafts(catalog: GraphQLClient) -> None:
    for plan_id in ("a", "b", "c"):
        await plan(catalog, plan_id, publish=True)
    # Parents only in drafts: b -> a, c -> b; then a -> c would close a cycle.
    await ok(catalog, "updatePlan", {"id": "b", "parentPlanId": "a"})
    await ok(catalog, "updatePlan", {"id": "c", "parentPlanId": "b"})
    error = await refused(
        catalog,
        "updatePlan",
        {"id": "a", "parentPlanId": "c"},
        "CIRCULAR_PLAN_PARENT",
        ["parentPlanId"],
    )
    assert "a -> c -> b -> a" in error["message"]
    # Once b drops its parent, a -> c -> b is fine.
    await ok(catalog, "updatePlan", {"id": "b", "parentPlanId": None})
    assert (await ok(catalog, "updatePlan", {"id": "a", "parentPlanId": "c"}))["hasDraft"]


async def test_cycle_is_caught_again_at_publish(catalog: GraphQLClient) -> None:
    """b's published version names a as parent, its draft does not; a's draft may then name
    b, but publishing a while b's published parent is a would make a cycle."""
    await plan(catalog, "a", publish=True)
    await plan(catalog, "b", parentPlanId="a", publish=True)
    await ok(catalog, "updatePlan", {"id": "b", "parentPlanId": None})
    await ok(catalog, "updatePlan", {"id": "a", "parentPlanId": "b"})
    await ok(catalog, "discardPlanDraft", {"id": "b"})
    await refused(catalog, "publishPlan", {"id": "a"}, "CIRCULAR_PLAN_PARENT", ["parentPlanId"])


# --- trials -------------------------------------------------------------------------------


async def test_default_trial(catalog: GraphQLClient) -> None:
    created = await plan(catalog, "pro", defaultTrial={"days": 14})
    assert created["defaultTrial"] == {"days": 14, "endBehavior": "CONVERT_TO_PAID"}
    changed = await ok(
        catalog, "updatePlan", {"id": "pro", "defaultTrial": {"days": 30, "endBehavior": "CANCEL"}}
    )
    assert changed["defaultTrial"] == {"days": 30, "endBehavior": "CANCEL"}
    removed = await ok(catalog, "updatePlan", {"id": "pro", "defaultTrial": None})
    assert removed["defaultTrial"] is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"defaultTrial": {"days": 0}}, ["defaultTrial", "days"]),
        ({"defaultTrial": {"days": -3}}, ["defaultTrial", "days"]),
        ({"defaultTrial": {"days": 3651}}, ["defaultTrial", "days"]),
        ({"pricingType": "FREE", "defaultTrial": {"days": 7}}, ["defaultTrial"]),
    ],
    ids=["zero days", "negative", "over ten years", "free plan"],
)
async def test_invalid_trial(
    catalog: GraphQLClient, fields: dict[str, Any], field: list[str]
) -> None:
    await refused(
        catalog, "createPlan", {"id": "p", "productId": "app", **fields}, "INVALID_INPUT", field
    )


# --- identity and lifecycle failures -----------------------------------------------------


async def test_plan_identity_failures(catalog: GraphQLClient) -> None:
    await plan(catalog, "pro")
    await refused(catalog, "createPlan", {"id": "pro", "productId": "app"}, "DUPLICATE_ID", ["id"])
    await refused(catalog, "createPlan", {"id": "a/b", "productId": "app"}, "INVALID_INPUT", ["id"])
    await refused(catalog, "createPlan", {"id": "p"}, "PRODUCT_NOT_FOUND", ["productId"])
    for mutation, input in (
        ("updatePlan", {"id": "nope", "name": "x"}),
        ("publishPlan", {"id": "nope"}),
        ("discardPlanDraft", {"id": "nope"}),
        ("archivePlan", {"id": "nope"}),
    ):
        await refused(catalog, mutation, input, "PLAN_NOT_FOUND", ["id"])
    # An add-on's id is no plan.
    await ok(catalog, "createAddon", {"id": "extra", "productId": "app"})
    await refused(catalog, "publishPlan", {"id": "extra"}, "PLAN_NOT_FOUND", ["id"])
    # Plans and add-ons have separate ids.
    assert (await plan(catalog, "extra"))["id"] == "extra"


async def test_null_pricing_type_keeps_it(catalog: GraphQLClient) -> None:
    await plan(catalog, "free", pricingType="FREE")
    kept = await ok(catalog, "updatePlan", {"id": "free", "pricingType": None, "name": "Free"})
    assert (kept["pricingType"], kept["name"]) == ("FREE", "Free")
