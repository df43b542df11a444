"""Products through GraphQL (subscriptions per customer, default plan, archiving) and the
catalog's lists: pagination, filters, archived items, environments."""

from __future__ import annotations

from typing import Any

import pytest

from tests.graphql.catalog_helpers import (
    PRODUCT_FIELDS,
    addon,
    ids,
    ok,
    plan,
    refused,
    standard_catalog,
    top_level_error,
)
from tests.support import GraphQLClient


async def test_single_subscription_product(gql: GraphQLClient) -> None:
    product = await ok(gql, "createProduct", {"id": "app", "name": "App"})
    assert product["id"] == "app"
    assert product["name"] == "App"
    assert product["description"] == ""
    assert product["multipleSubscriptions"] is False
    assert product["defaultPlanId"] is None
    assert product["downgradeToDefaultPlan"] is True
    assert product["isArchived"] is False
    query = f'{{ product(id: "app") {{ {PRODUCT_FIELDS} }} }}'
    assert (await gql.execute(query))["product"] == product


async def test_multiple_subscription_product(gql: GraphQLClient) -> None:
    product = await ok(
        gql,
        "createProduct",
        {
            "id": "workspaces",
            "multipleSubscriptions": True,
            "description": "One subscription per workspace",
            "downgradeToDefaultPlan": False,
        },
    )
    assert product["name"] == "workspaces"
    assert product["multipleSubscriptions"] is True
    assert product["downgradeToDefaultPlan"] is False
    assert product["description"] == "One subscription per workspace"


async def test_default_plan(gql: GraphQLClient) -> None:
    await standard_catalog(gql)
    await plan(gql, "free", pricingType="FREE", publish=True)
    product = await ok(gql, "updateProduct", {"id": "app", "defaultPlan": "free"})
    assert product["defaultPlanId"] == "free"
    # Omitted fields keep their value.
    renamed = await ok(gql, "updateProduct", {"id": "app", "name": "The App"})
    assert (renamed["name"], renamed["defaultPlanId"]) == ("The App", "free")
    # The default plan cannot be archived while it is the default.
    await refused(gql, "archivePlan", {"id": "free"}, "INVALID_INPUT", ["id"])
    cleared = await ok(gql, "updateProduct", {"id": "app", "defaultPlan": None})
    assert cleared["defaultPlanId"] is None
    assert (await ok(gql, "archivePlan", {"id": "free"}))["isArchived"] is True


async def test_default_plan_must_be_a_live_plan_of_the_product(gql: GraphQLClient) -> None:
    await standard_catalog(gql)
    await ok(gql, "createProduct", {"id": "other"})
    await plan(gql, "elsewhere", productId="other")
    await plan(gql, "old")
    await ok(gql, "archivePlan", {"id": "old"})
    await refused(
        gql,
        "createProduct",
        {"id": "new", "defaultPlan": "elsewhere"},
        "PLAN_NOT_FOUND",
        ["defaultPlan"],
    )
    for plan_id in ("nope", "elsewhere", "old"):
        await refused(
            gql,
            "updateProduct",
            {"id": "app", "defaultPlan": plan_id},
            "PLAN_NOT_FOUND",
            ["defaultPlan"],
        )


async def test_product_failures(gql: GraphQLClient) -> None:
    await ok(gql, "createProduct", {"id": "app"})
    await refused(gql, "createProduct", {"id": "app"}, "DUPLICATE_ID", ["id"])
    await refused(gql, "createProduct", {"id": "no spaces"}, "INVALID_INPUT", ["id"])
    await refused(gql, "createProduct", {"id": "x", "name": "n" * 201}, "INVALID_INPUT", ["name"])
    await refused(gql, "updateProduct", {"id": "nope", "name": "x"}, "PRODUCT_NOT_FOUND", ["id"])
    await refused(gql, "archiveProduct", {"id": "nope"}, "PRODUCT_NOT_FOUND", ["id"])
    await refused(gql, "updateProduct", {"id": "app", "description": "d" * 201}, "INVALID_INPUT")


async def test_packages_need_an_existing_product(gql: GraphQLClient) -> None:
    await standard_catalog(gql)
    for mutation in ("createPlan", "createAddon"):
        await refused(
            gql, mutation, {"id": "p", "productId": "nope"}, "PRODUCT_NOT_FOUND", ["productId"]
        )


async def test_archive_product_archives_its_packages(gql: GraphQLClient) -> None:
    await standard_catalog(gql)
    await ok(gql, "createProduct", {"id": "other"})
    await plan(gql, "free", pricingType="FREE", publish=True)
    await plan(gql, "pro", parentPlanId="free")
    await addon(gql, "extra", compatiblePlanIds=["pro"])
    await plan(gql, "kept", productId="other")

    archived = await ok(gql, "archiveProduct", {"id": "app"})
    assert archived["isArchived"] is True
    lists = await gql.execute(
        "{ products { totalCount edges { node { id } } }"
        "  plans { totalCount edges { node { id } } }"
        "  addons { totalCount edges { node { id } } } }"
    )
    assert ids(lists["products"]) == ["other"]
    assert ids(lists["plans"]) == ["kept"]
    assert lists["addons"]["totalCount"] == 0
    everything = await gql.execute(
        "{ products(includeArchived: true) { totalCount edges { node { id isArchived } } }"
        "  plans(includeArchived: true) { edges { node { id isArchived } } } }"
    )
    assert everything["products"]["totalCount"] == 2
    assert {e["node"]["id"]: e["node"]["isArchived"] for e in everything["plans"]["edges"]} == {
        "free": True,
        "pro": True,
        "kept": False,
    }
    # Archived plans and add-ons take no edits, and nothing new goes into the product.
    await refused(gql, "updatePlan", {"id": "pro", "name": "x"}, "ARCHIVED", ["id"])
    await refused(gql, "updateAddon", {"id": "extra", "maxQuantity": 2}, "ARCHIVED", ["id"])
    await refused(gql, "createPlan", {"id": "new", "productId": "app"}, "ARCHIVED", ["productId"])
    await refused(gql, "createAddon", {"id": "new", "productId": "app"}, "ARCHIVED", ["productId"])
    # Archiving again changes nothing.
    assert (await ok(gql, "archiveProduct", {"id": "app"})) == archived


async def test_plans_and_addons_by_product(gql: GraphQLClient) -> None:
    await standard_catalog(gql)
    await ok(gql, "createProduct", {"id": "other"})
    await plan(gql, "a1")
    await plan(gql, "b1", productId="other")
    await addon(gql, "a-extra")
    query = """query($product: String) {
      plans(productId: $product) { totalCount edges { node { id productId } } }
      addons(productId: $product) { totalCount edges { node { id productId } } }
    }"""
    app = await gql.execute(query, {"product": "app"})
    assert ids(app["plans"]) == ["a1"]
    assert ids(app["addons"]) == ["a-extra"]
    other = await gql.execute(query, {"product": "other"})
    assert (ids(other["plans"]), other["addons"]["totalCount"]) == (["b1"], 0)
    unknown = await gql.execute(query, {"product": "nope"})
    assert unknown["plans"]["totalCount"] == 0
    every = await gql.execute(query)
    assert ids(every["plans"]) == ["a1", "b1"]


@pytest.mark.parametrize("include_archived", [False, True])
async def test_products_pagination(gql: GraphQLClient, include_archived: bool) -> None:
    for n in range(4):
        await ok(gql, "createProduct", {"id": f"p{n}"})
    await ok(gql, "archiveProduct", {"id": "p1"})
    expected = ["p0", "p1", "p2", "p3"] if include_archived else ["p0", "p2", "p3"]
    query = """query($after: String, $all: Boolean!) {
      products(first: 2, after: $after, includeArchived: $all) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { id } }
      }
    }"""
    first: Any = (await gql.execute(query, {"all": include_archived}))["products"]
    assert first["totalCount"] == len(expected)
    assert first["pageInfo"]["hasNextPage"] is True
    second = (
        await gql.execute(query, {"all": include_archived, "after": first["pageInfo"]["endCursor"]})
    )["products"]
    assert ids(first) + ids(second) == expected
    assert second["pageInfo"]["hasNextPage"] is False


async def test_first_over_100_is_rejected_for_every_list(gql: GraphQLClient) -> None:
    for field in ("features", "products", "plans", "addons"):
        response = await gql.post(f"{{ {field}(first: 101) {{ totalCount }} }}")
        body = response.json()
        assert body["data"] is None
        error = body["errors"][0]
        assert "between 0 and 100" in error["message"]
        assert error["extensions"]["code"] == "INVALID_INPUT"


async def test_environments_are_isolated(gql: GraphQLClient, tenant: Any) -> None:
    await ok(gql, "createProduct", {"id": "app"})
    production = gql.with_key(tenant.server_keys["production"])
    assert (await production.execute('{ product(id: "app") { id } }')) == {"product": None}
    # The same id is free in another environment.
    assert (await ok(production, "createProduct", {"id": "app"}))["id"] == "app"


# --- pagination ---------------------------------------------------------------------------

PAGE = """query($first: Int, $after: String) {
  features(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } }
  }
}"""


async def test_pagination(gql: GraphQLClient) -> None:
    for n in range(5):
        await ok(gql, "createFeature", {"id": f"f{n}", "type": "BOOLEAN"})
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = (await gql.execute(PAGE, {"first": 2, "after": after}))["features"]
        assert page["totalCount"] == 5
        seen += ids(page)
        pages += 1
        if page["edges"]:
            assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["f0", "f1", "f2", "f3", "f4"]
    assert pages == 3
    everything = (await gql.execute(PAGE, {"first": 100}))["features"]
    assert ids(everything) == seen
    assert everything["pageInfo"]["hasNextPage"] is False
    default = (await gql.execute(PAGE))["features"]
    assert ids(default) == seen
    empty = (await gql.execute(PAGE, {"first": 0}))["features"]
    assert empty["edges"] == []
    assert empty["pageInfo"] == {"hasNextPage": True, "endCursor": None}
    assert empty["totalCount"] == 5


async def test_pagination_after_the_last_item(gql: GraphQLClient) -> None:
    await ok(gql, "createFeature", {"id": "only", "type": "BOOLEAN"})
    first = (await gql.execute(PAGE, {"first": 1}))["features"]
    assert first["pageInfo"]["hasNextPage"] is False
    rest = await gql.execute(PAGE, {"first": 1, "after": first["pageInfo"]["endCursor"]})
    assert rest["features"]["edges"] == []
    assert rest["features"]["pageInfo"] == {"hasNextPage": False, "endCursor": None}


@pytest.mark.parametrize("first", [101, 1000, -1])
async def test_first_out_of_range_is_rejected(gql: GraphQLClient, first: int) -> None:
    error = await top_level_error(gql, PAGE, {"first": first})
    assert "100" in error["message"]
    assert error["extensions"]["code"] == "INVALID_INPUT"


@pytest.mark.parametrize("after", ["%%%not-base64", "gA=="])
async def test_malformed_cursor_is_a_clear_error(gql: GraphQLClient, after: str) -> None:
    error = await top_level_error(gql, PAGE, {"first": 1, "after": after})
    assert "cursor" in error["message"]
    assert error["extensions"]["code"] == "INVALID_INPUT"


async def test_plans_pagination(gql: GraphQLClient) -> None:
    await standard_catalog(gql)
    for n in range(3):
        await plan(gql, f"p{n}")
    query = """query($after: String) {
      plans(first: 2, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { id } }
      }
    }"""
    first = (await gql.execute(query))["plans"]
    assert (ids(first), first["totalCount"], first["pageInfo"]["hasNextPage"]) == (
        ["p0", "p1"],
        3,
        True,
    )
    second = (await gql.execute(query, {"after": first["pageInfo"]["endCursor"]}))["plans"]
    assert (ids(second), second["pageInfo"]["hasNextPage"]) == (["p2"], False)
    error = await top_level_error(gql, "{ plans(first: 101) { totalCount } }")
    assert "100" in error["message"]
