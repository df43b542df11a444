"""Add-ons through GraphQL: max quantity, compatible plans, INCREMENT/OVERRIDE entitlements,
prices, versions, and the ways to get them wrong (each refusal changes nothing)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.graphql.catalog_helpers import (
    ADDON_FIELDS,
    addon,
    by_feature,
    ids,
    ok,
    plan,
    refused,
    standard_catalog,
    top_level_error,
)
from tests.support import GraphQLClient


@pytest.fixture
async def catalog(gql: GraphQLClient) -> GraphQLClient:
    """The standard features, product app with plans free (FREE) and pro, enterprise (CUSTOM)."""
    await standard_catalog(gql)
    await plan(gql, "free", pricingType="FREE", publish=True)
    await plan(gql, "pro", parentPlanId="free", publish=True)
    await plan(gql, "enterprise", parentPlanId="pro", pricingType="CUSTOM", publish=True)
    return gql


async def test_addon_defaults(catalog: GraphQLClient) -> None:
    created = await addon(catalog, "extra", name="Extra")
    assert (created["id"], created["name"], created["productId"]) == ("extra", "Extra", "app")
    assert (created["maxQuantity"], created["compatiblePlanIds"]) == (1, [])
    assert (created["version"], created["hasDraft"]) == (None, True)
    assert created["draft"]["pricingType"] is None
    assert created["draft"]["parentPlanId"] is None
    query = f'{{ addon(id: "extra") {{ {ADDON_FIELDS} }} }}'
    assert (await catalog.execute(query))["addon"] == created


async def test_addon_with_everything(catalog: GraphQLClient) -> None:
    created = await addon(
        catalog,
        "extra-seats",
        maxQuantity=50,
        compatiblePlanIds=["pro", "enterprise", "pro"],
        entitlements=[
            {"featureId": "seats", "limit": 5},
            {"featureId": "api-calls", "unlimited": True, "behavior": "OVERRIDE"},
            {"featureId": "retention-days", "value": 30, "behavior": "INCREMENT"},
            {"featureId": "region", "enumValues": ["apac"], "behavior": "OVERRIDE"},
            {"featureId": "sso"},
        ],
        prices=[{"amount": "10", "currency": "USD"}],
        publish=True,
    )
    assert created["maxQuantity"] == 50
    assert created["compatiblePlanIds"] == ["enterprise", "pro"]  # sorted, unique
    assert created["version"] == 1
    got = by_feature(created["entitlements"])
    assert {f: e["behavior"] for f, e in got.items()} == {
        "api-calls": "OVERRIDE",
        "region": "OVERRIDE",
        "retention-days": "INCREMENT",
        "seats": "INCREMENT",  # the default
        "sso": "INCREMENT",
    }
    assert (got["seats"]["usageLimit"], got["api-calls"]["isUnlimited"]) == (5.0, True)
    assert got["region"]["enumValues"] == ["apac"]
    assert created["prices"][0]["amount"] == "10.00"
    (v1,) = created["versions"]
    assert (v1["maxQuantity"], v1["compatiblePlanIds"]) == (50, ["enterprise", "pro"])
    assert v1["pricingType"] is None


async def test_plan_entitlements_have_no_behavior(catalog: GraphQLClient) -> None:
    pro = await ok(catalog, "updatePlan", {"id": "pro", "entitlements": [{"featureId": "sso"}]})
    assert pro["draft"]["entitlements"][0]["behavior"] is None


def _e(feature: str, **options: Any) -> list[dict[str, Any]]:
    return [{"featureId": feature, **options}]


BAD_ADDONS: list[tuple[str, dict[str, Any], str, list[str]]] = [
    ("max quantity zero", {"maxQuantity": 0}, "INVALID_INPUT", ["maxQuantity"]),
    ("negative max quantity", {"maxQuantity": -5}, "INVALID_INPUT", ["maxQuantity"]),
    ("unknown compatible plan", {"compatiblePlanIds": ["pro", "nope"]}, "PLAN_NOT_FOUND",
     ["compatiblePlanIds", "1"]),
    ("plan of another product", {"compatiblePlanIds": ["elsewhere"]}, "PLAN_NOT_FOUND",
     ["compatiblePlanIds", "0"]),
    ("archived plan", {"compatiblePlanIds": ["old"]}, "PLAN_NOT_FOUND", ["compatiblePlanIds", "0"]),
    ("unlimited increment", {"entitlements": _e("seats", unlimited=True)}, "INVALID_ENTITLEMENT",
     ["entitlements", "seats", "unlimited"]),
    ("boolean override", {"entitlements": _e("sso", behavior="OVERRIDE")}, "INVALID_ENTITLEMENT",
     ["entitlements", "sso", "behavior"]),
    ("variable on an add-on", {"entitlements": _e("seats", variable=True)},
     "INVALID_ENTITLEMENT", ["entitlements", "seats", "variable"]),
    ("value on metered", {"entitlements": _e("seats", value=1)}, "INVALID_ENTITLEMENT",
     ["entitlements", "seats", "value"]),
    ("negative limit", {"entitlements": _e("seats", limit=-5)}, "INVALID_ENTITLEMENT",
     ["entitlements", "seats", "limit"]),
    ("unknown feature", {"entitlements": _e("nope")}, "FEATURE_NOT_FOUND",
     ["entitlements", "nope"]),
    ("bad currency", {"prices": [{"amount": "1", "currency": "DOLLARS"}]}, "INVALID_CURRENCY",
     ["prices", "0", "currency"]),
    ("bad amount", {"prices": [{"amount": "1.0000001", "currency": "USD"}]}, "INVALID_PRICE",
     ["prices", "0", "amount"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "code", "field"), [c[1:] for c in BAD_ADDONS], ids=[c[0] for c in BAD_ADDONS]
)
async def test_invalid_addon_is_refused(
    catalog: GraphQLClient, fields: dict[str, Any], code: str, field: list[str]
) -> None:
    await ok(catalog, "createProduct", {"id": "other"})
    await plan(catalog, "elsewhere", productId="other")
    await plan(catalog, "old")
    await ok(catalog, "archivePlan", {"id": "old"})
    await refused(catalog, "createAddon", {"id": "a", "productId": "app", **fields}, code, field)
    await addon(catalog, "a", publish=True)
    await refused(catalog, "updateAddon", {"id": "a", **fields}, code, field)


async def test_addon_identity_failures(catalog: GraphQLClient) -> None:
    await addon(catalog, "extra")
    await refused(
        catalog, "createAddon", {"id": "extra", "productId": "app"}, "DUPLICATE_ID", ["id"]
    )
    await refused(catalog, "createAddon", {"id": "bad id", "productId": "app"}, "INVALID_INPUT")
    for mutation, input in (
        ("updateAddon", {"id": "nope", "maxQuantity": 2}),
        ("publishAddon", {"id": "nope"}),
        ("discardAddonDraft", {"id": "nope"}),
        ("archiveAddon", {"id": "nope"}),
        ("publishAddon", {"id": "pro"}),  # a plan's id is no add-on
    ):
        await refused(catalog, mutation, input, "ADDON_NOT_FOUND", ["id"])


async def test_max_quantity_beyond_int_is_a_graphql_error(catalog: GraphQLClient) -> None:
    error = await top_level_error(
        catalog,
        "mutation($input: CreateAddonInput!) { createAddon(input: $input) { errors { code } } }",
        {"input": {"id": "a", "productId": "app", "maxQuantity": 2**31}},
    )
    assert "Int" in error["message"]
    assert (await catalog.execute("{ addons { totalCount } }"))["addons"]["totalCount"] == 0


async def test_addon_versions(catalog: GraphQLClient) -> None:
    await addon(
        catalog,
        "extra",
        maxQuantity=5,
        compatiblePlanIds=["pro"],
        entitlements=_e("seats", limit=5),
        publish=True,
    )
    edited = await ok(
        catalog,
        "updateAddon",
        {"id": "extra", "maxQuantity": 10, "compatiblePlanIds": ["pro", "enterprise"]},
    )
    # Published fields are unchanged; the edit is in the draft.
    assert (edited["version"], edited["hasDraft"], edited["maxQuantity"]) == (1, True, 5)
    assert edited["compatiblePlanIds"] == ["pro"]
    assert (edited["draft"]["maxQuantity"], edited["draft"]["compatiblePlanIds"]) == (
        10,
        ["enterprise", "pro"],
    )
    assert edited["draft"]["entitlements"] == edited["entitlements"]  # kept from v1
    # null keeps the max quantity.
    kept = await ok(catalog, "updateAddon", {"id": "extra", "maxQuantity": None})
    assert kept["draft"]["maxQuantity"] == 10
    published = await ok(
        catalog, "publishAddon", {"id": "extra", "migrateExistingSubscriptions": True}
    )
    assert (published["version"], published["hasDraft"], published["maxQuantity"]) == (2, False, 10)
    assert [v["version"] for v in published["versions"]] == [2, 1]
    assert published["versions"][0]["migrateExistingSubscriptions"] is True
    assert published["versions"][1]["maxQuantity"] == 5
    await refused(catalog, "publishAddon", {"id": "extra"}, "NOTHING_TO_PUBLISH", ["id"])
    await ok(catalog, "updateAddon", {"id": "extra", "maxQuantity": 3})
    discarded = await ok(catalog, "discardAddonDraft", {"id": "extra"})
    assert (discarded["hasDraft"], discarded["maxQuantity"]) == (False, 10)


async def test_archive_addon(catalog: GraphQLClient) -> None:
    await addon(catalog, "extra", publish=True)
    await addon(catalog, "other")
    archived = await ok(catalog, "archiveAddon", {"id": "extra"})
    assert archived["isArchived"] is True
    assert ids((await catalog.execute("{ addons { edges { node { id } } } }"))["addons"]) == [
        "other"
    ]
    everything = await catalog.execute("{ addons(includeArchived: true) { totalCount } }")
    assert everything["addons"]["totalCount"] == 2
    await refused(catalog, "updateAddon", {"id": "extra", "maxQuantity": 2}, "ARCHIVED", ["id"])
    await refused(catalog, "publishAddon", {"id": "extra"}, "ARCHIVED", ["id"])
    assert (await ok(catalog, "archiveAddon", {"id": "extra"})) == archived


async def test_archiving_a_compatible_plan_is_allowed(catalog: GraphQLClient) -> None:
    """Existing add-ons keep naming it (their versions are frozen); new edits may not."""
    await plan(catalog, "team", publish=True)
    await addon(catalog, "extra", compatiblePlanIds=["team"], publish=True)
    await ok(catalog, "archivePlan", {"id": "team"})
    assert (await catalog.execute('{ addon(id: "extra") { compatiblePlanIds } }')) == {
        "addon": {"compatiblePlanIds": ["team"]}
    }
    await refused(
        catalog,
        "updateAddon",
        {"id": "extra", "maxQuantity": 2},
        "PLAN_NOT_FOUND",
        ["compatiblePlanIds", "0"],
    )
