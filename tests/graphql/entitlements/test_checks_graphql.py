"""The entitlement engine end to end through GraphQL, on a real database."""

from __future__ import annotations

from tests.graphql.entitlements.catalog import apply_catalog, check, new_customer, provision
from tests.support import GraphQLClient


async def test_default_plan_on_provisioning(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    payload = await new_customer(gql, "acme")
    assert payload["subscription"]["planId"] == "free"
    seats = await check(gql, "acme", "seats")
    assert seats["hasAccess"] and seats["usageLimit"] == 3 and seats["currentUsage"] == 0
    assert [s["kind"] for s in seats["sources"]] == ["PLAN"]
    sso = await check(gql, "acme", "sso")
    assert sso == {**sso, "hasAccess": False, "denyReason": "NOT_ENTITLED"}
    calls = await check(gql, "acme", "api-calls")
    assert calls["resetPeriod"] == "MONTH" and calls["usagePeriodStart"] is not None


async def test_unknowns_are_answers(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    nobody = await check(gql, "nobody", "seats")
    assert (nobody["hasAccess"], nobody["denyReason"]) == (False, "CUSTOMER_NOT_FOUND")
    nothing = await check(gql, "acme", "nothing")
    assert (nothing["hasAccess"], nothing["denyReason"]) == (False, "FEATURE_NOT_FOUND")


async def test_upgrade_with_addons_and_sources(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    payload = await provision(
        gql,
        customerId="acme",
        planId="pro",
        skipTrial=True,
        addons=[{"addonId": "extra-seats", "quantity": 3}],
    )
    assert payload["errors"] == [], payload
    assert payload["subscription"]["planId"] == "pro"
    seats = await check(gql, "acme", "seats", requested=25)
    assert seats["usageLimit"] == 25 and seats["hasAccess"]
    kinds = {(s["kind"], s["planId"], s["addonId"]) for s in seats["sources"]}
    assert ("BASE_PLAN", "free", None) in kinds and ("ADDON", "pro", "extra-seats") in kinds
    over = await check(gql, "acme", "seats", requested=26)
    assert over["denyReason"] == "USAGE_LIMIT_EXCEEDED"
    regions = await check(gql, "acme", "regions", values=["eu", "us"])
    assert regions["hasAccess"] and set(regions["enumValues"]) == {"eu", "us"}
    bad = await check(gql, "acme", "regions", values=["ap"])
    assert bad["denyReason"] == "VALUE_NOT_ALLOWED"
