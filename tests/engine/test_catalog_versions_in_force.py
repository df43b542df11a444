"""What a subscription gets from the catalog: a variable entitlement's catalog value is its
default (issue 10 item 10), and a parent plan's publish leaves the subscribers of its child
plans on the ancestor versions they had unless the publish migrates them (issue 10 item 8)."""

from __future__ import annotations

import copy
from typing import Any

from tests.engine.catalog import CATALOG, apply_catalog, check, new_customer
from tests.engine.conftest import codes, subscribe, subscribed
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
