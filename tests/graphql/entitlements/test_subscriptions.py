"""Customers and subscriptions through GraphQL: provisioning, plan changes, parallel trials,
multi-subscription products, add-ons, cancellation, archiving, billing periods, versions."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from app.clock import FrozenClock
from tests.graphql.entitlements.catalog import apply_catalog, check, new_customer
from tests.graphql.entitlements.conftest import (
    START,
    archive,
    cancel,
    codes,
    customer,
    iso,
    live,
    provision_customer,
    subscribe,
    subscribed,
    subscription,
    subscriptions,
    update,
    when,
)
from tests.support import GraphQLClient

# --- provisioning customers ------------------------------------------------------------------


async def test_provision_customer_without_subscription_gets_default_plans(
    gql: GraphQLClient,
) -> None:
    await apply_catalog(gql)
    payload = await provision_customer(gql, customerId="acme", name="Acme")
    assert payload["errors"] == []
    assert payload["subscription"]["planId"] == "free"
    assert payload["subscription"]["status"] == "ACTIVE"
    # Only `app` names a default plan; `analytics` has none.
    subs = await subscriptions(gql, "acme")
    assert [(s["planId"], s["status"]) for s in subs] == [("free", "ACTIVE")]


async def test_provision_customer_with_subscription(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    payload = await provision_customer(
        gql, customerId="acme", subscription={"planId": "pro", "skipTrial": True}
    )
    assert payload["errors"] == []
    assert (payload["subscription"]["planId"], payload["subscription"]["status"]) == (
        "pro",
        "ACTIVE",
    )
    assert [s["planId"] for s in await subscriptions(gql, "acme")] == ["pro"]
    assert (await check(gql, "acme", "sso"))["hasAccess"]


async def test_provision_customer_is_an_upsert(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await provision_customer(gql, customerId="acme", name="Acme", email="a@acme.test")
    again = await provision_customer(gql, customerId="acme", name="Acme Inc.")
    assert again["errors"] == []
    assert again["customer"] == {"id": "acme", "name": "Acme Inc.", "email": "a@acme.test"}
    found = await customer(gql, "acme")
    assert found is not None and found["name"] == "Acme Inc."
    assert len(found["subscriptions"]) == 1  # the default plan is not subscribed twice


# --- plan changes ----------------------------------------------------------------------------


async def test_upgrade_applies_now_on_the_same_subscription(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    free = (await new_customer(gql, "acme"))["subscription"]
    assert not (await check(gql, "acme", "sso"))["hasAccess"]
    pro = await subscribed(gql, customerId="acme", planId="pro", skipTrial=True)
    assert (pro["id"], pro["planId"], pro["status"]) == (free["id"], "pro", "ACTIVE")
    assert pro["scheduledChange"] is None
    assert (await check(gql, "acme", "sso"))["hasAccess"]
    assert [s["planId"] for s in await subscriptions(gql, "acme")] == ["pro"]


async def test_plan_change_may_name_the_subscription_it_changes(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme", subscription={"planId": "free", "subscriptionId": "s1"})
    pro = await subscribed(
        gql, customerId="acme", planId="pro", skipTrial=True, subscriptionId="s1"
    )
    assert (pro["id"], pro["planId"]) == ("s1", "pro")
    await new_customer(gql, "other", subscription={"planId": "free", "subscriptionId": "s2"})
    taken = await subscribe(gql, customerId="acme", planId="free", subscriptionId="s2")
    assert codes(taken) == ["DUPLICATE_ID"]  # another subscription's id


async def test_downgrade_at_end_of_period_is_scheduled(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme", subscription={"planId": "pro", "skipTrial": True})
    sub = await subscribed(gql, customerId="acme", planId="free", changeTiming="END_OF_PERIOD")
    assert sub["planId"] == "pro"
    change = sub["scheduledChange"]
    assert change is not None and change["planId"] == "free"
    assert when(change["effectiveAt"]) == when(sub["currentPeriodEnd"])
    assert (await check(gql, "acme", "sso"))["hasAccess"]  # still pro until then
    assert (await check(gql, "acme", "seats"))["usageLimit"] == 10


async def test_downgrade_immediately(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(
        gql,
        "acme",
        subscription={
            "planId": "pro",
            "skipTrial": True,
            "addons": [{"addonId": "extra-seats", "quantity": 2}],
        },
    )
    sub = await subscribed(gql, customerId="acme", planId="free", changeTiming="IMMEDIATE")
    assert (sub["planId"], sub["scheduledChange"]) == ("free", None)
    assert sub["addons"] == []  # extra-seats is not compatible with free: dropped
    assert not (await check(gql, "acme", "sso"))["hasAccess"]
    assert (await check(gql, "acme", "seats"))["usageLimit"] == 3


async def test_parallel_trial_while_paying(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    paid = (await new_customer(gql, "acme", subscription={"planId": "pro", "skipTrial": True}))[
        "subscription"
    ]
    trial = await subscribed(
        gql,
        customerId="acme",
        planId="enterprise",
        trial={"days": 14},
        entitlements=[{"featureId": "seats", "limit": 100}],
    )
    assert trial["id"] != paid["id"]
    assert (trial["status"], trial["isParallelTrial"]) == ("IN_TRIAL", True)
    assert {s["id"] for s in await live(gql, "acme")} == {paid["id"], trial["id"]}
    seats = await check(gql, "acme", "seats")
    assert seats["usageLimit"] == 100
    assert {(s["subscriptionId"], s["isTrial"]) for s in seats["sources"] if s["isEffective"]} == {
        (trial["id"], True)
    }
    assert (await check(gql, "acme", "api-calls"))["isUnlimited"]
    # Canceling the trial leaves the paid subscription as it was.
    assert (await cancel(gql, subscriptionId=trial["id"]))["errors"] == []
    assert [s["id"] for s in await live(gql, "acme")] == [paid["id"]]
    assert (await check(gql, "acme", "seats"))["usageLimit"] == 10


async def test_multi_subscription_product_one_per_resource(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    ws1 = await subscribed(gql, customerId="acme", planId="analytics-basic", resourceId="ws1")
    ws2 = await subscribed(gql, customerId="acme", planId="analytics-basic", resourceId="ws2")
    assert ws1["id"] != ws2["id"]
    assert (ws1["resourceId"], ws2["resourceId"]) == ("ws1", "ws2")
    again = await subscribed(gql, customerId="acme", planId="analytics-basic", resourceId="ws1")
    assert again["id"] == ws1["id"]  # the same resource: the same subscription
    plans = sorted((s["planId"], s["resourceId"]) for s in await live(gql, "acme"))
    assert plans == [("analytics-basic", "ws1"), ("analytics-basic", "ws2"), ("free", None)]


async def test_plan_change_after_a_converted_parallel_trial_keeps_one_subscription(
    tgql: GraphQLClient, clock: FrozenClock
) -> None:
    await apply_catalog(tgql)
    await new_customer(tgql, "acme", subscription={"planId": "pro", "skipTrial": True})
    trial = await subscribed(
        tgql,
        customerId="acme",
        planId="enterprise",
        trial={"days": 7},
        entitlements=[{"featureId": "seats", "limit": 100}],
    )
    clock.advance(timedelta(days=8))  # converted: enterprise replaced pro
    assert [s["id"] for s in await live(tgql, "acme")] == [trial["id"]]
    sub = await subscribed(tgql, customerId="acme", planId="free", changeTiming="IMMEDIATE")
    assert sub["id"] == trial["id"]  # a plan change, not a second subscription
    assert [s["planId"] for s in await live(tgql, "acme")] == ["free"]


# --- custom plans and add-ons ----------------------------------------------------------------


async def test_custom_plan_needs_its_variable_values(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    payload = await subscribe(gql, customerId="acme", planId="enterprise")
    assert codes(payload) == ["INVALID_INPUT"]
    assert "seats" in payload["errors"][0]["message"]
    assert payload["errors"][0]["field"] == ["entitlements"]
    ok = await subscribed(
        gql,
        customerId="acme",
        planId="enterprise",
        entitlements=[{"featureId": "seats", "limit": 42}],
    )
    assert ok["entitlements"] == [
        {"featureId": "seats", "usageLimit": 42, "isUnlimited": False, "value": None}
    ]
    assert (await check(gql, "acme", "seats"))["usageLimit"] == 42


async def test_addon_rules(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    on_free = await subscribe(gql, customerId="acme", planId="free", addons=[{"addonId": "audit"}])
    assert codes(on_free) == ["ADDON_NOT_COMPATIBLE"]
    assert on_free["errors"][0]["field"] == ["addons", "0", "addonId"]
    too_many = await subscribe(
        gql,
        customerId="acme",
        planId="pro",
        skipTrial=True,
        addons=[{"addonId": "extra-seats", "quantity": 51}],
    )
    assert codes(too_many) == ["ADDON_QUANTITY_EXCEEDED"]
    unknown = await subscribe(
        gql, customerId="acme", planId="pro", skipTrial=True, addons=[{"addonId": "nope"}]
    )
    assert codes(unknown) == ["ADDON_NOT_FOUND"]
    assert [s["planId"] for s in await live(gql, "acme")] == ["free"]  # nothing changed
    at_max = await subscribed(
        gql,
        customerId="acme",
        planId="pro",
        skipTrial=True,
        addons=[{"addonId": "extra-seats", "quantity": 50}],
    )
    assert at_max["addons"] == [{"addonId": "extra-seats", "quantity": 50}]


async def test_update_subscription_replaces_addons_at_once(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    sub = (
        await new_customer(
            gql,
            "acme",
            subscription={
                "planId": "pro",
                "skipTrial": True,
                "addons": [{"addonId": "extra-seats", "quantity": 2}],
            },
        )
    )["subscription"]
    assert (await check(gql, "acme", "seats"))["usageLimit"] == 20
    payload = await update(gql, subscriptionId=sub["id"], addons=[{"addonId": "audit"}])
    assert payload["errors"] == []
    assert payload["subscription"]["addons"] == [{"addonId": "audit", "quantity": 1}]
    assert (await check(gql, "acme", "seats"))["usageLimit"] == 10
    assert (await check(gql, "acme", "audit-log"))["hasAccess"]
    await update(gql, subscriptionId=sub["id"], addons=[])
    assert not (await check(gql, "acme", "audit-log"))["hasAccess"]


# --- cancellation and archiving --------------------------------------------------------------


async def test_cancel_now_falls_back_to_the_default_plan(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    pro = (await new_customer(gql, "acme", subscription={"planId": "pro", "skipTrial": True}))[
        "subscription"
    ]
    payload = await cancel(gql, subscriptionId=pro["id"], at="IMMEDIATE")
    assert payload["errors"] == []
    assert payload["subscription"]["status"] == "CANCELED"
    assert payload["subscription"]["canceledAt"] is not None
    assert [s["planId"] for s in await live(gql, "acme")] == ["free"]
    assert not (await check(gql, "acme", "sso"))["hasAccess"]
    again = await cancel(gql, subscriptionId=pro["id"])
    assert codes(again) == ["SUBSCRIPTION_ENDED"]


async def test_cancel_at_period_end_and_on_a_date(tgql: GraphQLClient, clock: FrozenClock) -> None:
    await apply_catalog(tgql)
    made = await provision_customer(
        tgql, customerId="a", subscription={"planId": "pro", "skipTrial": True}
    )
    pro = made["subscription"]
    payload = await cancel(tgql, subscriptionId=pro["id"], at="END_OF_PERIOD")
    assert payload["errors"] == []
    ended = payload["subscription"]
    assert ended["status"] == "ACTIVE"
    assert when(ended["endDate"]) == when(pro["currentPeriodEnd"]) == START + timedelta(days=31)
    assert (await check(tgql, "a", "sso"))["hasAccess"]
    scheduled = [s for s in await subscriptions(tgql, "a") if s["status"] == "SCHEDULED"]
    assert [(s["planId"], when(s["startDate"])) for s in scheduled] == [
        ("free", when(ended["endDate"]))
    ]
    await new_customer(tgql, "b", subscription={"planId": "pro", "skipTrial": True})
    (sub_b,) = await live(tgql, "b")
    on = START + timedelta(days=3, hours=5)
    payload = await cancel(tgql, subscriptionId=sub_b["id"], at="DATE", date=iso(on))
    assert payload["errors"] == [] and when(payload["subscription"]["endDate"]) == on


async def test_archived_customer_is_denied_and_refused(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme", subscription={"planId": "pro", "skipTrial": True})
    payload = await archive(gql, "acme")
    assert payload["errors"] == [] and payload["customer"]["isArchived"]
    seats = await check(gql, "acme", "seats")
    assert (seats["hasAccess"], seats["denyReason"]) == (False, "CUSTOMER_ARCHIVED")
    refused = await subscribe(gql, customerId="acme", planId="pro", skipTrial=True)
    assert codes(refused) == ["CUSTOMER_ARCHIVED"]
    assert await live(gql, "acme") == []


# --- billing periods -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "end"),
    [
        ("MONTHLY", datetime(2024, 2, 10, 12, tzinfo=START.tzinfo)),
        ("ANNUALLY", datetime(2025, 1, 10, 12, tzinfo=START.tzinfo)),
    ],
)
async def test_current_billing_period(
    tgql: GraphQLClient, clock: FrozenClock, period: str, end: datetime
) -> None:
    await apply_catalog(tgql)
    await new_customer(tgql, "acme")
    sub = await subscribed(
        tgql, customerId="acme", planId="pro", skipTrial=True, billingPeriod=period
    )
    assert (when(sub["currentPeriodStart"]), when(sub["currentPeriodEnd"])) == (START, end)
    clock.set(end + timedelta(seconds=1))
    found = await subscription(tgql, sub["id"])
    assert found is not None and when(found["currentPeriodStart"]) == end


# --- plan versions ---------------------------------------------------------------------------

UPDATE_PLAN = """mutation($input: UpdatePlanInput!) { updatePlan(input: $input) {
  errors { code message } } }"""
PUBLISH_PLAN = """mutation($input: PublishInput!) { publishPlan(input: $input) {
  plan { id } errors { code message } } }"""


async def _publish_pro_seats(gql: GraphQLClient, seats: int, migrate: bool) -> None:
    entitlements = [
        {"featureId": "seats", "limit": seats},
        {"featureId": "sso"},
        {"featureId": "retention-days", "value": 30},
        {"featureId": "regions", "enumValues": ["us"]},
    ]
    edit = await gql.mutate(UPDATE_PLAN, {"input": {"id": "pro", "entitlements": entitlements}})
    assert edit["errors"] == []
    published = await gql.mutate(
        PUBLISH_PLAN, {"input": {"id": "pro", "migrateExistingSubscriptions": migrate}}
    )
    assert published["errors"] == []


async def test_publishing_pins_or_migrates_subscriptions(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    sub = (await new_customer(gql, "acme", subscription={"planId": "pro", "skipTrial": True}))[
        "subscription"
    ]
    await _publish_pro_seats(gql, 20, migrate=False)
    pinned = await subscription(gql, sub["id"])
    assert pinned is not None and pinned["planVersion"] == 1
    assert (await check(gql, "acme", "seats"))["usageLimit"] == 10
    await new_customer(gql, "new")
    newcomer = await subscribed(gql, customerId="new", planId="pro", skipTrial=True)
    assert newcomer["planVersion"] == 2
    await _publish_pro_seats(gql, 30, migrate=True)
    moved = await subscription(gql, sub["id"])
    assert moved is not None and moved["planVersion"] == 3
    assert (await check(gql, "acme", "seats"))["usageLimit"] == 30
    assert (await check(gql, "new", "seats"))["usageLimit"] == 30


async def test_migration_moves_subscriptions_live_by_the_service_clock(
    tgql: GraphQLClient, clock: FrozenClock
) -> None:
    await apply_catalog(tgql)
    made = await provision_customer(
        tgql, customerId="acme", subscription={"planId": "pro", "skipTrial": True}
    )
    sub = made["subscription"]
    assert (await cancel(tgql, subscriptionId=sub["id"], at="END_OF_PERIOD"))["errors"] == []
    await _publish_pro_seats(tgql, 30, migrate=True)  # it ends in a month: still live now
    moved = await subscription(tgql, sub["id"])
    assert moved is not None and moved["planVersion"] == 2
    assert (await check(tgql, "acme", "seats"))["usageLimit"] == 30


async def test_migration_also_moves_a_scheduled_change_to_the_plan(
    tgql: GraphQLClient, clock: FrozenClock
) -> None:
    """A downgrade scheduled before `free` is republished with migration lands on the new
    version at period end, not on the version it was scheduled with."""
    await apply_catalog(tgql)
    await new_customer(tgql, "acme", subscription={"planId": "pro", "skipTrial": True})
    sub = await subscribed(tgql, customerId="acme", planId="free", changeTiming="END_OF_PERIOD")
    assert sub["scheduledChange"]["planId"] == "free"
    entitlements = [
        {"featureId": "seats", "limit": 5},
        {"featureId": "api-calls", "limit": 1000, "resetPeriod": "MONTH"},
        {"featureId": "retention-days", "value": 7},
        {"featureId": "regions", "enumValues": ["eu"]},
    ]
    edit = await tgql.mutate(UPDATE_PLAN, {"input": {"id": "free", "entitlements": entitlements}})
    assert edit["errors"] == []
    published = await tgql.mutate(
        PUBLISH_PLAN, {"input": {"id": "free", "migrateExistingSubscriptions": True}}
    )
    assert published["errors"] == []
    clock.set(when(sub["currentPeriodEnd"]) + timedelta(minutes=1))
    changed = await subscription(tgql, sub["id"])
    assert changed is not None
    assert (changed["planId"], changed["planVersion"]) == ("free", 2)
    assert (await check(tgql, "acme", "seats"))["usageLimit"] == 5


async def test_migration_also_moves_a_scheduled_change_with_the_addon(
    tgql: GraphQLClient, clock: FrozenClock
) -> None:
    update_addon = """mutation($input: UpdateAddonInput!) { updateAddon(input: $input) {
      errors { code message } } }"""
    publish_addon = """mutation($input: PublishInput!) { publishAddon(input: $input) {
      errors { code message } } }"""

    async def republish(changes: dict[str, object], migrate: bool) -> None:
        edit = await tgql.mutate(update_addon, {"input": {"id": "extra-seats", **changes}})
        assert edit["errors"] == [], edit
        published = await tgql.mutate(
            publish_addon, {"input": {"id": "extra-seats", "migrateExistingSubscriptions": migrate}}
        )
        assert published["errors"] == [], published

    await apply_catalog(tgql)
    await republish({"compatiblePlanIds": ["pro", "free"]}, migrate=False)  # version 2
    await new_customer(
        tgql, "acme", subscription={"planId": "pro", "skipTrial": True,
                                    "addons": [{"addonId": "extra-seats", "quantity": 1}]}
    )
    sub = await subscribed(
        tgql, customerId="acme", planId="free", changeTiming="END_OF_PERIOD",
        addons=[{"addonId": "extra-seats", "quantity": 1}],
    )
    assert sub["scheduledChange"]["planId"] == "free"
    await republish({"maxQuantity": 5}, migrate=True)  # version 3
    clock.set(when(sub["currentPeriodEnd"]) + timedelta(minutes=1))
    data = await tgql.execute(
        "query($id: String!) { subscription(id: $id) { planId addons { addonId version } } }",
        {"id": sub["id"]},
    )
    changed = data["subscription"]
    assert changed["planId"] == "free"
    assert [(a["addonId"], a["version"]) for a in changed["addons"]] == [("extra-seats", 3)]
