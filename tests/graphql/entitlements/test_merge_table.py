"""Every merge rule and every source kind, end to end through GraphQL (DOMAIN.md, "The
effective entitlement"): what the check answers, and which sources are marked isEffective."""

from __future__ import annotations

from typing import Any

from tests.graphql.entitlements.catalog import apply_catalog, check, new_customer
from tests.graphql.entitlements.conftest import check_r, grant, subscribed
from tests.support import GraphQLClient

FEATURES: list[dict[str, Any]] = [
    {"id": "seats", "type": "METERED"},
    {"id": "calls", "type": "METERED"},
    {"id": "sso", "type": "BOOLEAN"},
    {"id": "days", "type": "CONFIGURATION"},
    {"id": "regions", "type": "CONFIGURATION", "valueType": "ENUM", "enumValues": ["eu", "us"]},
]


def doc(
    plans: list[dict[str, Any]], addons: list[dict[str, Any]] | None = None, **product: Any
) -> dict[str, Any]:
    """A one-product catalog over FEATURES."""
    entry = {"id": "app", "plans": plans, "addons": addons or [], **product}
    return {"features": FEATURES, "products": [entry]}


def plan(plan_id: str, parent: str | None = None, **entitlements: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": plan_id, "pricingType": "FREE", "entitlements": entitlements}
    if parent is not None:
        out["parent"] = parent
    return out


def addon(addon_id: str, plans: list[str], max_quantity: int = 10, **ents: Any) -> dict[str, Any]:
    return {
        "id": addon_id,
        "maxQuantity": max_quantity,
        "compatiblePlans": plans,
        "entitlements": ents,
    }


def marks(entitlement: dict[str, Any]) -> set[tuple[Any, ...]]:
    """(kind, planId, addonId, isEffective) of every source."""
    return {
        (s["kind"], s["planId"], s["addonId"], s["isEffective"]) for s in entitlement["sources"]
    }


async def on_plan(gql: GraphQLClient, document: dict[str, Any], plan_id: str, **more: Any) -> str:
    """Apply the catalog, create customer `c` on the plan; the subscription id."""
    await apply_catalog(gql, document)
    await new_customer(gql, "c")
    sub = await subscribed(gql, customerId="c", planId=plan_id, skipTrial=True, **more)
    return str(sub["id"])


# --- plan and ancestors ----------------------------------------------------------------------


async def test_plan_alone(gql: GraphQLClient) -> None:
    await on_plan(gql, doc([plan("p", seats={"limit": 4})]), "p")
    seats = await check(gql, "c", "seats")
    assert (seats["hasAccess"], seats["usageLimit"], seats["isUnlimited"]) == (True, 4, False)
    assert marks(seats) == {("PLAN", "p", None, True)}
    assert seats["remaining"] == 4 and seats["sources"][0]["isTrial"] is False


async def test_ancestors_count_and_the_most_generous_wins(gql: GraphQLClient) -> None:
    plans = [
        plan("base", seats={"limit": 5}, sso={}, days={"value": 30}),
        plan("mid", "base", seats={"limit": 2}),  # smaller than its parent: the parent wins
        plan("top", "mid", seats={"limit": 3}, days={"value": 7}),
    ]
    await on_plan(gql, doc(plans), "top")
    seats = await check(gql, "c", "seats")
    assert seats["usageLimit"] == 5
    assert marks(seats) == {
        ("PLAN", "top", None, False),
        ("BASE_PLAN", "mid", None, False),
        ("BASE_PLAN", "base", None, True),
    }
    sso = await check(gql, "c", "sso")  # only the grandparent grants it
    assert sso["hasAccess"] and marks(sso) == {("BASE_PLAN", "base", None, True)}
    days = await check(gql, "c", "days")
    assert days["value"] == 30
    assert ("BASE_PLAN", "base", None, True) in marks(days)
    assert ("PLAN", "top", None, False) in marks(days)


# --- add-ons ---------------------------------------------------------------------------------


async def test_increment_addon_times_quantity(gql: GraphQLClient) -> None:
    document = doc([plan("p", seats={"limit": 10})], [addon("more", ["p"], 50, seats={"limit": 5})])
    await on_plan(gql, document, "p", addons=[{"addonId": "more", "quantity": 3}])
    seats = await check(gql, "c", "seats", requested=25)
    assert (seats["hasAccess"], seats["usageLimit"]) == (True, 25)
    assert marks(seats) == {("PLAN", "p", None, True), ("ADDON", "p", "more", True)}
    (added,) = [s for s in seats["sources"] if s["kind"] == "ADDON"]
    assert (added["quantity"], added["usageLimit"]) == (3, 15)  # its contribution
    assert (await check(gql, "c", "seats", requested=26))["denyReason"] == "USAGE_LIMIT_EXCEEDED"


async def test_increment_addon_on_a_feature_the_plan_lacks(gql: GraphQLClient) -> None:
    document = doc([plan("p", seats={"limit": 1})], [addon("days", ["p"], 5, days={"value": 10})])
    await on_plan(gql, document, "p", addons=[{"addonId": "days", "quantity": 2}])
    days = await check(gql, "c", "days")
    assert days["hasAccess"] and days["value"] == 20
    assert marks(days) == {("ADDON", "p", "days", True)}


async def test_override_addon_replaces_the_plan_value(gql: GraphQLClient) -> None:
    addons = [
        addon("big", ["p"], seats={"limit": 100, "behavior": "OVERRIDE"}),
        addon("small", ["p"], seats={"limit": 2, "behavior": "OVERRIDE"}),
        addon("inc", ["p"], seats={"limit": 1}),
    ]
    document = doc([plan("p", seats={"limit": 10})], addons)
    await on_plan(gql, document, "p", addons=[{"addonId": "small", "quantity": 4}])
    seats = await check(gql, "c", "seats")  # an override replaces, even downwards
    assert seats["usageLimit"] == 2
    assert marks(seats) == {("PLAN", "p", None, False), ("ADDON", "p", "small", True)}
    await subscribed(
        gql,
        customerId="c",
        planId="p",
        addons=[{"addonId": "small"}, {"addonId": "big"}, {"addonId": "inc", "quantity": 3}],
    )
    seats = await check(gql, "c", "seats")  # the largest override, then the increments
    assert seats["usageLimit"] == 103
    assert marks(seats) == {
        ("PLAN", "p", None, False),
        ("ADDON", "p", "small", False),
        ("ADDON", "p", "big", True),
        ("ADDON", "p", "inc", True),
    }


# --- per-subscription values, trials, promotions ---------------------------------------------


async def test_per_subscription_value_replaces_the_plan(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "c")
    await subscribed(
        gql,
        customerId="c",
        planId="enterprise",
        entitlements=[{"featureId": "seats", "limit": 200}],
        addons=[{"addonId": "extra-seats", "quantity": 2}],
    )
    seats = await check(gql, "c", "seats")
    assert seats["usageLimit"] == 210
    assert marks(seats) == {
        ("BASE_PLAN", "free", None, False),
        ("BASE_PLAN", "pro", None, False),
        ("SUBSCRIPTION_VALUE", "enterprise", None, True),
        ("ADDON", "enterprise", "extra-seats", True),
    }
    calls = await check(gql, "c", "api-calls")  # the plan's own unlimited beats free's 1000
    assert calls["isUnlimited"] and calls["usageLimit"] is None
    assert ("PLAN", "enterprise", None, True) in marks(calls)
    assert ("BASE_PLAN", "free", None, False) in marks(calls)


async def test_a_lower_per_subscription_value_lowers_the_plan(gql: GraphQLClient) -> None:
    await on_plan(
        gql,
        doc([plan("p", seats={"limit": 10})]),
        "p",
        entitlements=[{"featureId": "seats", "limit": 4}],
    )
    seats = await check(gql, "c", "seats")
    assert seats["usageLimit"] == 4
    assert marks(seats) == {("PLAN", "p", None, False), ("SUBSCRIPTION_VALUE", "p", None, True)}


async def test_trial_sources_say_so(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "c", subscription={"planId": "pro"})  # pro's default 14-day trial
    sso = await check(gql, "c", "sso")
    assert sso["hasAccess"]
    assert [(s["kind"], s["isTrial"], s["isEffective"]) for s in sso["sources"]] == [
        ("PLAN", True, True)
    ]


async def test_promotion_is_a_source_and_competes(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "c")  # free: seats 3, no sso
    payload = await grant(
        gql,
        "c",
        {"featureId": "seats", "limit": 50, "duration": "ONE_MONTH"},
        {"featureId": "sso", "duration": "ONE_WEEK"},
        {"featureId": "retention-days", "value": 1},
    )
    assert payload["errors"] == [], payload
    seats = await check(gql, "c", "seats")
    assert seats["usageLimit"] == 50
    assert marks(seats) == {("PLAN", "free", None, False), ("PROMOTIONAL", None, None, True)}
    (promo,) = [s for s in seats["sources"] if s["kind"] == "PROMOTIONAL"]
    assert promo["subscriptionId"] is None and promo["usageLimit"] == 50
    sso = await check(gql, "c", "sso")
    assert sso["hasAccess"] and marks(sso) == {("PROMOTIONAL", None, None, True)}
    days = await check(gql, "c", "retention-days")  # a smaller promotion does not lower it
    assert days["value"] == 7
    assert marks(days) == {("PLAN", "free", None, True), ("PROMOTIONAL", None, None, False)}


# --- across subscriptions and products --------------------------------------------------------


ANALYTICS = {
    "id": "analytics",
    "multipleSubscriptions": True,
    "plans": [
        plan("a-small", seats={"limit": 5}, days={"value": 90}),
        plan("a-big", seats={"limit": 50}),
    ],
}


async def test_several_products_and_resources(gql: GraphQLClient) -> None:
    document = doc([plan("free", seats={"limit": 3}, days={"value": 7})], defaultPlan="free")
    document["products"].append(ANALYTICS)
    await apply_catalog(gql, document)
    await new_customer(gql, "c")
    small = await subscribed(gql, customerId="c", planId="a-small", resourceId="ws1")
    big = await subscribed(gql, customerId="c", planId="a-big", resourceId="ws2")
    seats = await check(gql, "c", "seats")  # the customer as a whole: most generous of all
    assert seats["usageLimit"] == 50
    assert {(s["planId"], s["isEffective"]) for s in seats["sources"]} == {
        ("free", False),
        ("a-small", False),
        ("a-big", True),
    }
    days = await check(gql, "c", "days")
    assert days["value"] == 90 and ("PLAN", "a-small", None, True) in marks(days)
    ws1 = await check_r(gql, "c", "seats", "ws1")  # one resource: its subscription + the app's
    assert ws1["usageLimit"] == 5
    assert {s["subscriptionId"] for s in ws1["sources"]} >= {small["id"]}
    assert big["id"] not in {s["subscriptionId"] for s in ws1["sources"]}
    ws2 = await check_r(gql, "c", "seats", "ws2")
    assert ws2["usageLimit"] == 50
    assert (await check_r(gql, "c", "days", "ws2"))["value"] == 7
    other = await check_r(gql, "c", "seats", "ws3")  # no subscription of its own: the app's
    assert other["usageLimit"] == 3
    listed = await gql.execute(
        'query { entitlements(customerId: "c", resourceId: "ws1") { featureId usageLimit value } }'
    )
    assert {e["featureId"]: (e["usageLimit"], e["value"]) for e in listed["entitlements"]} == {
        "seats": (5, None),
        "days": (None, 90),
    }


async def test_parallel_subscriptions_merge_most_generous(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "c", subscription={"planId": "pro", "skipTrial": True})
    trial = await subscribed(
        gql,
        customerId="c",
        planId="enterprise",
        trial={"days": 7},
        entitlements=[{"featureId": "seats", "limit": 8}],
    )
    assert trial["isParallelTrial"] and trial["status"] == "IN_TRIAL"
    seats = await check(gql, "c", "seats")  # pro's 10 beats the trial's own 8
    assert seats["usageLimit"] == 10
    winners = [(s["planId"], s["isTrial"]) for s in seats["sources"] if s["isEffective"]]
    assert winners == [("pro", False)]
    calls = await check(gql, "c", "api-calls")  # the trial's unlimited beats pro's 1000
    assert calls["isUnlimited"]
    winners = [(s["planId"], s["isTrial"]) for s in calls["sources"] if s["isEffective"]]
    assert winners == [("enterprise", True)]


# --- the merge rules per feature type --------------------------------------------------------


async def test_unlimited_beats_any_limit(gql: GraphQLClient) -> None:
    document = doc(
        [plan("p", calls={"limit": 1000, "resetPeriod": "DAY"})],
        [addon("lots", ["p"], 9, calls={"limit": 10**6})],
    )
    await on_plan(gql, document, "p", addons=[{"addonId": "lots", "quantity": 9}])
    assert (await check(gql, "c", "calls"))["usageLimit"] == 9_001_000
    await grant(gql, "c", {"featureId": "calls", "unlimited": True})
    calls = await check(gql, "c", "calls", requested=10**12)
    assert calls["hasAccess"] and calls["isUnlimited"] and calls["usageLimit"] is None
    assert calls["remaining"] is None
    assert marks(calls) == {
        ("PLAN", "p", None, False),
        ("ADDON", "p", "lots", False),
        ("PROMOTIONAL", None, None, True),
    }


async def test_a_soft_winner_makes_the_limit_soft(gql: GraphQLClient) -> None:
    await on_plan(gql, doc([plan("p", seats={"limit": 10})]), "p")
    await grant(gql, "c", {"featureId": "seats", "limit": 20, "softLimit": True})
    seats = await check(gql, "c", "seats", requested=500)
    assert (seats["hasAccess"], seats["usageLimit"], seats["isSoftLimit"]) == (True, 20, True)


async def test_boolean_any_source_grants(gql: GraphQLClient) -> None:
    document = doc(
        [plan("base", sso={}), plan("p", "base", sso={}), plan("none", seats={"limit": 1})],
        [addon("sso-pack", ["p"], 1, sso={})],
    )
    await on_plan(gql, document, "p", addons=[{"addonId": "sso-pack"}])
    await grant(gql, "c", {"featureId": "sso"})
    sso = await check(gql, "c", "sso")
    assert sso["hasAccess"] and sso["usageLimit"] is None and sso["value"] is None
    assert {s["isEffective"] for s in sso["sources"]} == {True}  # every grant decided it
    assert {s["kind"] for s in sso["sources"]} == {"PLAN", "BASE_PLAN", "ADDON", "PROMOTIONAL"}
    await subscribed(gql, customerId="c", planId="none", addons=[])  # no plan grants it now
    sso = await check(gql, "c", "sso")
    assert sso["hasAccess"] and marks(sso) == {("PROMOTIONAL", None, None, True)}


async def test_configuration_largest_number_and_enum_union(gql: GraphQLClient) -> None:
    document = doc(
        [
            plan("base", days={"value": 14}, regions={"enumValues": ["eu"]}),
            plan("p", "base", days={"value": 30}, regions={"enumValues": ["us"]}),
        ]
    )
    await on_plan(gql, document, "p")
    await grant(gql, "c", {"featureId": "days", "value": 60})
    days = await check(gql, "c", "days")
    assert days["value"] == 60 and days["enumValues"] is None
    assert marks(days) == {
        ("PLAN", "p", None, False),
        ("BASE_PLAN", "base", None, False),
        ("PROMOTIONAL", None, None, True),
    }
    regions = await check(gql, "c", "regions", values=["eu", "us"])
    assert regions["hasAccess"] and regions["enumValues"] == ["eu", "us"]
    assert marks(regions) == {("PLAN", "p", None, True), ("BASE_PLAN", "base", None, True)}
    denied = await check(gql, "c", "regions", values=["ap"])
    assert (denied["hasAccess"], denied["denyReason"]) == (False, "VALUE_NOT_ALLOWED")


async def test_nothing_grants_the_feature(gql: GraphQLClient) -> None:
    await on_plan(gql, doc([plan("p", seats={"limit": 1})]), "p")
    sso = await check(gql, "c", "sso")
    assert (sso["hasAccess"], sso["denyReason"], sso["sources"]) == (False, "NOT_ENTITLED", [])
