"""What a client (publishable) key reads of the catalog: the published catalog only — no
drafts, draft prices or draft names, no never-published plans or add-ons, nothing archived,
no reference to any of those; `includeArchived: true` is refused (issue 9, "What to build" 5;
the table in docs/security.md)."""

from __future__ import annotations

import pytest

from tests.graphql.catalog_helpers import (
    ADDON_FIELDS,
    FEATURE_FIELDS,
    PLAN_FIELDS,
    PRODUCT_FIELDS,
    addon,
    ids,
    ok,
    plan,
    standard_catalog,
)
from tests.support import GraphQLClient, Tenant

SEATS_10 = [{"featureId": "seats", "limit": 10}]
PRICE_49 = [{"amount": "49", "currency": "USD"}]


@pytest.fixture
async def catalog(gql: GraphQLClient) -> GraphQLClient:
    """A catalog with something of every kind a client key must not see."""
    await standard_catalog(gql)
    await ok(gql, "createProduct", {"id": "gone", "name": "Gone"})
    await ok(gql, "archiveProduct", {"id": "gone"})
    await ok(gql, "createFeature", {"id": "old", "type": "BOOLEAN"})
    await ok(gql, "archiveFeature", {"id": "old"})

    # pro: published v1, then a draft with another name, description, limit and price.
    await plan(
        gql,
        "pro",
        name="Pro",
        description="v1",
        entitlements=SEATS_10,
        prices=PRICE_49,
        publish=True,
    )
    draft = {
        "id": "pro",
        "name": "Pro (new)",
        "description": "not yet",
        "entitlements": [{"featureId": "seats", "limit": 20}],
        "prices": [{"amount": "99", "currency": "USD"}],
    }
    await ok(gql, "updatePlan", draft)
    # secret: never published (a price in its draft); team: published, its parent is secret.
    await plan(gql, "secret", name="Secret", prices=[{"amount": "1000", "currency": "USD"}])
    await plan(gql, "team", parentPlanId="secret", publish=True)
    await plan(gql, "retired", publish=True)
    await ok(gql, "archivePlan", {"id": "retired"})
    await ok(gql, "updateProduct", {"id": "app", "defaultPlan": "secret"})

    await addon(gql, "extra", compatiblePlanIds=["pro", "secret"], publish=True)
    await addon(gql, "hidden", name="Hidden")
    await addon(gql, "dropped", publish=True)
    await ok(gql, "archiveAddon", {"id": "dropped"})
    return gql


# Pages of 20 (the catalog here is small): four lists of 100 cost more than a client key's
# request may (docs/security.md, "Request limits").
ALL = f"""{{
  features(first: 20) {{ totalCount edges {{ node {{ {FEATURE_FIELDS} }} }} }}
  products(first: 20) {{ totalCount edges {{ node {{ {PRODUCT_FIELDS} }} }} }}
  plans(first: 20) {{ totalCount edges {{ node {{ {PLAN_FIELDS} parentPlanVersion }} }} }}
  addons(first: 20) {{ totalCount edges {{ node {{ {ADDON_FIELDS} }} }} }}
}}"""

BY_ID = """{
  secret: plan(id: "secret") { id } retired: plan(id: "retired") { id }
  hidden: addon(id: "hidden") { id } dropped: addon(id: "dropped") { id }
  old: feature(id: "old") { id } gone: product(id: "gone") { id }
  pro: plan(id: "pro") { id name } extra: addon(id: "extra") { id }
  seats: feature(id: "seats") { id } app: product(id: "app") { id }
}"""


def client(gql: GraphQLClient, tenant: Tenant) -> GraphQLClient:
    return gql.with_key(tenant.client_key)


async def test_a_client_key_lists_only_the_published_catalog(
    catalog: GraphQLClient, tenant: Tenant
) -> None:
    data = await client(catalog, tenant).execute(ALL)
    assert ids(data["plans"]) == ["pro", "team"]
    assert data["plans"]["totalCount"] == 2
    assert ids(data["addons"]) == ["extra"]
    assert data["addons"]["totalCount"] == 1
    assert "old" not in ids(data["features"])
    assert data["features"]["totalCount"] == len(ids(data["features"]))
    assert ids(data["products"]) == ["app"]
    assert data["products"]["totalCount"] == 1

    # The server key sees all of it.
    server = await catalog.execute(
        "{ plans(first: 100, includeArchived: true) { totalCount } "
        "addons(first: 100, includeArchived: true) { totalCount } }"
    )
    assert (server["plans"]["totalCount"], server["addons"]["totalCount"]) == (4, 3)


async def test_a_client_key_sees_the_published_version_only(
    catalog: GraphQLClient, tenant: Tenant
) -> None:
    data = await client(catalog, tenant).execute(ALL)
    plans = {e["node"]["id"]: e["node"] for e in data["plans"]["edges"]}
    pro = plans["pro"]
    assert (pro["name"], pro["description"], pro["version"]) == ("Pro", "v1", 1)
    assert [(e["featureId"], e["usageLimit"]) for e in pro["entitlements"]] == [("seats", 10.0)]
    assert [p["amount"] for p in pro["prices"]] == ["49.00"]
    assert (pro["hasDraft"], pro["draft"]) == (False, None)
    assert [(v["version"], v["name"]) for v in pro["versions"]] == [(1, "Pro")]
    # Nothing names what is not published: team's parent, the default plan, compatible plans.
    assert (plans["team"]["parentPlanId"], plans["team"]["parentPlanVersion"]) == (None, None)
    (app,) = [e["node"] for e in data["products"]["edges"]]
    assert app["defaultPlanId"] is None
    (extra,) = [e["node"] for e in data["addons"]["edges"]]
    assert extra["compatiblePlanIds"] == ["pro"]
    text = str(data)
    for unpublished in ("Pro (new)", "not yet", "99.00", "1000", "secret", "Secret", "hidden"):
        assert unpublished not in text, unpublished

    # The server key reads the draft and the references as they are.
    server = (await catalog.execute(f'{{ plan(id: "pro") {{ {PLAN_FIELDS} }} }}'))["plan"]
    assert (server["hasDraft"], server["draft"]["name"]) == (True, "Pro (new)")


async def test_a_client_key_reads_nothing_unpublished_by_id(
    catalog: GraphQLClient, tenant: Tenant
) -> None:
    data = await client(catalog, tenant).execute(BY_ID)
    hidden = ("secret", "retired", "hidden", "dropped", "old", "gone")
    assert {k: data[k] for k in hidden} == dict.fromkeys(hidden)
    assert data["pro"] == {"id": "pro", "name": "Pro"}
    assert all(data[k] is not None for k in ("extra", "seats", "app"))
    server = await catalog.execute(BY_ID)
    assert all(server[k] is not None for k in hidden)


@pytest.mark.parametrize("root", ["features", "products", "plans", "addons"])
async def test_a_client_key_may_not_include_archived_items(
    catalog: GraphQLClient, tenant: Tenant, root: str
) -> None:
    response = await client(catalog, tenant).post(
        f"{{ {root}(includeArchived: true) {{ totalCount }} }}"
    )
    body = response.json()
    assert response.status_code == 200, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body
    assert body["data"] is None
    # false (the default) is fine.
    data = await client(catalog, tenant).execute(
        f"{{ {root}(includeArchived: false) {{ totalCount }} }}"
    )
    assert data[root]["totalCount"] >= 1


async def test_an_entitlement_check_does_not_show_an_archived_feature(
    catalog: GraphQLClient, tenant: Tenant
) -> None:
    query = '{ entitlement(customerId: "nobody", featureId: "%s") { featureId feature { id } } }'
    reader = client(catalog, tenant)
    assert (await reader.execute(query % "old"))["entitlement"]["feature"] is None
    assert (await reader.execute(query % "seats"))["entitlement"]["feature"] == {"id": "seats"}
    assert (await catalog.execute(query % "old"))["entitlement"]["feature"] == {"id": "old"}
