"""Usage per resource on a product with one subscription per resource: a report with a
`resourceId` is held to that resource's own limit, exactly as the entitlement check for the
resource reports it (not to the most generous limit among the customer's resources)."""

from __future__ import annotations

import copy
from typing import Any

from tests.graphql.entitlements.catalog import apply_catalog, new_customer, provision
from tests.graphql.usage.helpers import USAGE_CATALOG, check, codes, report, reported
from tests.support import GraphQLClient


def _catalog() -> dict[str, Any]:
    doc = copy.deepcopy(USAGE_CATALOG)
    doc["features"].append({"id": "projects", "type": "METERED"})
    doc["products"].append({
        "id": "workspaces", "name": "Workspaces", "multipleSubscriptions": True,
        "plans": [
            {"id": "ws-small", "pricingType": "FREE",
             "entitlements": {"projects": {"limit": 2}}},
            {"id": "ws-large", "pricingType": "FREE",
             "entitlements": {"projects": {"limit": 10}}},
        ],
    })
    return doc


async def _workspaces(gql: GraphQLClient) -> None:
    await apply_catalog(gql, _catalog())
    await new_customer(gql, "acme")
    for resource, plan in (("ws-1", "ws-small"), ("ws-2", "ws-large")):
        payload = await provision(gql, customerId="acme", planId=plan, resourceId=resource)
        assert payload["errors"] == [], payload


async def test_each_resource_has_its_own_limit(gql: GraphQLClient) -> None:
    await _workspaces(gql)
    assert await reported(gql, "acme", "projects", 2, consume=True, resourceId="ws-1") == 2
    refused = await report(gql, "acme", "projects", 1, consume=True, resourceId="ws-1")
    assert codes(refused) == ["USAGE_LIMIT_EXCEEDED"]
    assert refused["usage"]["usageLimit"] == 2
    seen = await check(gql, "acme", "projects", resource="ws-1")
    assert (seen["usageLimit"], seen["currentUsage"], seen["hasAccess"]) == (2, 2, False)

    assert await reported(gql, "acme", "projects", 10, consume=True, resourceId="ws-2") == 10
    assert codes(await report(gql, "acme", "projects", 1, consume=True,
                              resourceId="ws-2")) == ["USAGE_LIMIT_EXCEEDED"]
    assert (await check(gql, "acme", "projects", resource="ws-2"))["usageLimit"] == 10


async def test_a_resource_upgrade_applies_to_the_next_report(gql: GraphQLClient) -> None:
    await _workspaces(gql)
    assert await reported(gql, "acme", "projects", 2, consume=True, resourceId="ws-1") == 2
    changed = await provision(gql, customerId="acme", planId="ws-large", resourceId="ws-1",
                              changeTiming="IMMEDIATE")
    assert changed["errors"] == [], changed
    payload = await report(gql, "acme", "projects", 8, consume=True, resourceId="ws-1")
    assert payload["accepted"] and payload["usage"]["usageLimit"] == 10
    assert payload["usage"]["currentUsage"] == 10


async def test_a_resource_without_a_subscription_has_no_allowance(gql: GraphQLClient) -> None:
    await _workspaces(gql)
    refused = await report(gql, "acme", "projects", 1, consume=True, resourceId="ws-3")
    assert codes(refused) == ["USAGE_LIMIT_EXCEEDED"]
    assert (await check(gql, "acme", "projects", resource="ws-3"))["hasAccess"] is False
