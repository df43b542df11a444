"""Trials and plan changes through GraphQL (issue 10, items 1-7): a paying subscription's plan
change never becomes a trial; a CANCEL trial's default-plan fallback is there the instant the
trial ends; paying for a trialled plan leaves one subscription; `endTrial`; one default trial
per customer and plan; `resumeSubscription`; `endDate` at provisioning; `resourceId` only on
multi-subscription products."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.clock import FrozenClock
from tests.graphql.entitlements.catalog import apply_catalog
from tests.graphql.entitlements.conftest import (
    START,
    SUBSCRIPTION_FIELDS,
    Job,
    cancel,
    codes,
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

_PRICE = {"model": "FLAT_FEE", "billingPeriod": "MONTHLY", "currency": "USD"}

# free ⊂ mid ⊂ top, each paid plan with a default CONVERT trial; `lab` has a CANCEL trial.
CATALOG: dict[str, Any] = {
    "features": [
        {"id": "seats", "type": "METERED"},
        {"id": "sso", "type": "BOOLEAN"},
        {"id": "reports", "type": "BOOLEAN"},
    ],
    "products": [
        {
            "id": "app",
            "multipleSubscriptions": False,
            "defaultPlan": "free",
            "plans": [
                {"id": "free", "pricingType": "FREE", "entitlements": {"seats": {"limit": 3}}},
                {
                    "id": "mid",
                    "parent": "free",
                    "pricingType": "PAID",
                    "trial": {"days": 14, "endBehavior": "CONVERT_TO_PAID"},
                    "prices": [{**_PRICE, "amount": "20.00"}],
                    "entitlements": {"seats": {"limit": 10}},
                },
                {
                    "id": "top",
                    "parent": "mid",
                    "pricingType": "PAID",
                    "trial": {"days": 14, "endBehavior": "CONVERT_TO_PAID"},
                    "prices": [{**_PRICE, "amount": "50.00"}],
                    "entitlements": {"seats": {"limit": 20}, "sso": {}},
                },
                {
                    "id": "lab",
                    "parent": "free",
                    "pricingType": "PAID",
                    "trial": {"days": 7, "endBehavior": "CANCEL"},
                    "prices": [{**_PRICE, "amount": "30.00"}],
                    "entitlements": {"seats": {"limit": 5}, "reports": {}},
                },
            ],
        },
        {
            "id": "ws",
            "multipleSubscriptions": True,
            "plans": [{"id": "ws-basic", "pricingType": "FREE", "entitlements": {"reports": {}}}],
        },
    ],
}

END_TRIAL = f"""mutation($input: EndTrialInput!) {{ endTrial(input: $input) {{
  subscription {{ {SUBSCRIPTION_FIELDS} }} errors {{ code message field }} }} }}"""

RESUME = f"""mutation($input: ResumeSubscriptionInput!) {{ resumeSubscription(input: $input) {{
  subscription {{ {SUBSCRIPTION_FIELDS} }} errors {{ code message field }} }} }}"""

CHECK = """query($c: String!, $f: String!) { entitlement(customerId: $c, featureId: $f) {
  hasAccess denyReason usageLimit sources { planId subscriptionId isEffective } } }"""

AUDIT = """query($op: String) { auditLog(first: 50, operation: $op) {
  edges { node { operation entityType entityId action } } } }"""


async def _setup(gql: GraphQLClient) -> None:
    await apply_catalog(gql, CATALOG)


async def _check(gql: GraphQLClient, customer: str, feature: str) -> dict[str, Any]:
    data = await gql.execute(CHECK, {"c": customer, "f": feature})
    return data["entitlement"]  # type: ignore[no-any-return]


async def _seats(gql: GraphQLClient, customer: str) -> float | None:
    answer = await _check(gql, customer, "seats")
    return answer["usageLimit"] if answer["hasAccess"] else answer["denyReason"]


async def end_trial(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    return await gql.mutate(END_TRIAL, {"input": fields})  # type: ignore[no-any-return]


async def resume(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    return await gql.mutate(RESUME, {"input": fields})  # type: ignore[no-any-return]


async def _paying(gql: GraphQLClient, customer: str, plan: str) -> dict[str, Any]:
    payload = await provision_customer(
        gql, customerId=customer, subscription={"planId": plan, "skipTrial": True}
    )
    assert payload["errors"] == [], payload["errors"]
    return payload["subscription"]  # type: ignore[no-any-return]


def _plans(subs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((s["planId"], s["status"]) for s in subs)


# --- 1. a paying subscription's plan change is never a trial --------------------------------


async def test_scheduled_downgrade_of_a_paying_subscription_is_no_trial(
    tgql: GraphQLClient, clock: FrozenClock
) -> None:
    await _setup(tgql)
    top = await _paying(tgql, "acme", "top")
    changed = await subscribed(tgql, customerId="acme", planId="mid", changeTiming="END_OF_PERIOD")
    assert changed["id"] == top["id"]
    assert (changed["planId"], changed["status"]) == ("top", "ACTIVE")
    assert changed["trialEndDate"] is None
    assert changed["scheduledChange"]["planId"] == "mid"
    assert changed["endDate"] is None and not changed["isParallelTrial"]
    assert [s["id"] for s in await live(tgql, "acme")] == [top["id"]]
    clock.advance(timedelta(days=32))
    assert await _seats(tgql, "acme") == 10
    assert _plans(await live(tgql, "acme")) == [("mid", "ACTIVE")]


async def test_immediate_plan_change_of_a_paying_subscription_is_no_trial(
    tgql: GraphQLClient,
) -> None:
    await _setup(tgql)
    top = await _paying(tgql, "acme", "top")
    down = await subscribed(tgql, customerId="acme", planId="mid")
    assert (down["id"], down["planId"], down["status"]) == (top["id"], "mid", "ACTIVE")
    assert down["trialEndDate"] is None
    up = await subscribed(tgql, customerId="acme", planId="top")  # an upgrade: no trial either
    assert (up["id"], up["planId"], up["status"], up["trialEndDate"]) == (
        top["id"],
        "top",
        "ACTIVE",
        None,
    )
    assert [s["id"] for s in await subscriptions(tgql, "acme")] == [top["id"]]


async def test_explicit_trial_while_paying_and_default_trial_from_free(
    tgql: GraphQLClient,
) -> None:
    await _setup(tgql)
    mid = await _paying(tgql, "acme", "mid")
    trial = await subscribed(tgql, customerId="acme", planId="top", trial={"days": 5})
    assert trial["id"] != mid["id"]
    assert (trial["status"], trial["isParallelTrial"]) == ("IN_TRIAL", True)
    # A free (default-plan) customer moving to a paid plan still gets its default trial.
    await provision_customer(tgql, customerId="newbie")
    pro = await subscribed(tgql, customerId="newbie", planId="mid")
    assert (pro["status"], pro["isParallelTrial"]) == ("IN_TRIAL", True)
    assert when(pro["trialEndDate"]) == START + timedelta(days=14)


# --- 2. the default-plan fallback is computed, not waited for -------------------------------


async def test_backdated_cancel_trial_falls_back_at_once(tgql: GraphQLClient) -> None:
    await _setup(tgql)
    payload = await provision_customer(
        tgql,
        customerId="acme",
        subscription={"planId": "lab", "startDate": iso(START - timedelta(days=10))},
    )
    assert payload["errors"] == []
    assert payload["subscription"]["status"] == "EXPIRED"
    assert await _seats(tgql, "acme") == 3  # the default plan, no job needed
    assert not (await _check(tgql, "acme", "reports"))["hasAccess"]
    subs = await subscriptions(tgql, "acme")
    assert _plans(subs) == [("free", "ACTIVE"), ("lab", "EXPIRED")]
    free = next(s for s in subs if s["planId"] == "free")
    assert when(free["startDate"]) == START - timedelta(days=3)  # from the trial's end on


async def test_cancel_trial_falls_back_the_instant_it_ends(
    tgql: GraphQLClient, clock: FrozenClock, run_job: Job
) -> None:
    await _setup(tgql)
    lab = (await provision_customer(tgql, customerId="acme", subscription={"planId": "lab"}))[
        "subscription"
    ]
    assert lab["status"] == "IN_TRIAL" and await _seats(tgql, "acme") == 5
    clock.set(when(lab["trialEndDate"]) - timedelta(seconds=1))  # type: ignore[operator]
    assert await _seats(tgql, "acme") == 5
    clock.set(when(lab["trialEndDate"]))  # type: ignore[arg-type]
    assert await _seats(tgql, "acme") == 3  # at the very instant, before any job
    assert _plans(await live(tgql, "acme")) == [("free", "ACTIVE")]
    await run_job()  # the job finds nothing more to create
    assert _plans(await subscriptions(tgql, "acme")) == [("free", "ACTIVE"), ("lab", "EXPIRED")]


# --- 3. paying for the plan being trialled; endTrial ----------------------------------------


async def test_paying_for_the_trialled_plan_leaves_one_subscription(tgql: GraphQLClient) -> None:
    await _setup(tgql)
    free = (await provision_customer(tgql, customerId="acme"))["subscription"]
    trial = await subscribed(tgql, customerId="acme", planId="mid")
    assert trial["isParallelTrial"]
    paid = await subscribed(tgql, customerId="acme", planId="mid", skipTrial=True)
    assert (paid["id"], paid["planId"], paid["status"]) == (free["id"], "mid", "ACTIVE")
    assert _plans(await live(tgql, "acme")) == [("mid", "ACTIVE")]
    assert (await subscription(tgql, trial["id"]))["status"] == "CANCELED"  # type: ignore[index]
    assert paid["endDate"] is None


async def test_paying_for_a_trialled_plan_while_paying_another(
    tgql: GraphQLClient, clock: FrozenClock
) -> None:
    await _setup(tgql)
    mid = await _paying(tgql, "acme", "mid")
    await subscribed(tgql, customerId="acme", planId="top", trial={"days": 10})
    paid = await subscribed(tgql, customerId="acme", planId="top", skipTrial=True)
    assert (paid["id"], paid["planId"]) == (mid["id"], "top")
    assert _plans(await live(tgql, "acme")) == [("top", "ACTIVE")]
    clock.advance(timedelta(days=11))  # the trial's end changes nothing any more
    assert [s["id"] for s in await live(tgql, "acme")] == [mid["id"]]


async def test_skip_trial_on_a_trialling_subscription_ends_its_trial(
    tgql: GraphQLClient, clock: FrozenClock
) -> None:
    await _setup(tgql)
    lab = (await provision_customer(tgql, customerId="acme", subscription={"planId": "lab"}))[
        "subscription"
    ]
    paid = await subscribed(tgql, customerId="acme", planId="lab", skipTrial=True)
    assert (paid["id"], paid["status"], paid["endDate"]) == (lab["id"], "ACTIVE", None)
    assert when(paid["trialEndDate"]) == START
    clock.advance(timedelta(days=8))
    assert await _seats(tgql, "acme") == 5
    assert _plans(await live(tgql, "acme")) == [("lab", "ACTIVE")]


async def test_end_trial_convert_a_parallel_trial(tgql: GraphQLClient, clock: FrozenClock) -> None:
    await _setup(tgql)
    mid = await _paying(tgql, "acme", "mid")
    trial = await subscribed(tgql, customerId="acme", planId="top", trial={"days": 10})
    clock.advance(timedelta(days=2))
    payload = await end_trial(tgql, subscriptionId=trial["id"], action="CONVERT")
    assert payload["errors"] == []
    done = payload["subscription"]
    assert (done["status"], when(done["trialEndDate"])) == ("ACTIVE", START + timedelta(days=2))
    assert when(done["currentPeriodStart"]) == START + timedelta(days=2)  # paid from now
    assert (await subscription(tgql, mid["id"]))["status"] == "CANCELED"  # type: ignore[index]
    assert _plans(await live(tgql, "acme")) == [("top", "ACTIVE")]
    assert (await _check(tgql, "acme", "sso"))["hasAccess"]
    again = await end_trial(tgql, subscriptionId=trial["id"], action="CONVERT")
    assert codes(again) == ["INVALID_INPUT"]
    entries = [
        e["node"] for e in (await tgql.execute(AUDIT, {"op": "endTrial"}))["auditLog"]["edges"]
    ]
    assert {(e["entityType"], e["entityId"]) for e in entries} >= {
        ("SUBSCRIPTION", trial["id"]),
        ("SUBSCRIPTION", mid["id"]),
    }


async def test_end_trial_cancel_and_convert_of_a_cancel_trial(
    tgql: GraphQLClient, clock: FrozenClock
) -> None:
    await _setup(tgql)
    lab = (await provision_customer(tgql, customerId="a", subscription={"planId": "lab"}))[
        "subscription"
    ]
    canceled = await end_trial(tgql, subscriptionId=lab["id"], action="CANCEL")
    assert canceled["errors"] == []
    assert canceled["subscription"]["status"] == "EXPIRED"
    assert await _seats(tgql, "a") == 3
    assert _plans(await live(tgql, "a")) == [("free", "ACTIVE")]

    lab = (await provision_customer(tgql, customerId="b", subscription={"planId": "lab"}))[
        "subscription"
    ]
    converted = await end_trial(tgql, subscriptionId=lab["id"], action="CONVERT")
    assert converted["errors"] == []
    assert (converted["subscription"]["status"], converted["subscription"]["endDate"]) == (
        "ACTIVE",
        None,
    )
    clock.advance(timedelta(days=8))
    assert await _seats(tgql, "b") == 5
    assert [s["planId"] for s in await live(tgql, "b")] == ["lab"]
    unknown = await end_trial(tgql, subscriptionId="nope", action="CANCEL")
    assert codes(unknown) == ["SUBSCRIPTION_NOT_FOUND"]


# --- 4. one default trial per customer and plan ---------------------------------------------


async def test_one_default_trial_per_customer_and_plan(tgql: GraphQLClient) -> None:
    await _setup(tgql)
    free = (await provision_customer(tgql, customerId="acme"))["subscription"]
    trial = await subscribed(tgql, customerId="acme", planId="mid")
    assert trial["status"] == "IN_TRIAL"
    assert (await cancel(tgql, subscriptionId=trial["id"]))["errors"] == []
    again = await subscribed(tgql, customerId="acme", planId="mid")
    assert (again["id"], again["status"], again["trialEndDate"]) == (free["id"], "ACTIVE", None)
    # An explicit trial still works.
    await subscribed(tgql, customerId="acme", planId="free")
    explicit = await subscribed(tgql, customerId="acme", planId="mid", trial={"days": 3})
    assert explicit["status"] == "IN_TRIAL"
    # Another plan's default trial is still there.
    other = await subscribed(tgql, customerId="acme", planId="top")
    assert other["status"] == "IN_TRIAL"


async def test_an_expired_cancel_trial_is_not_given_again(
    tgql: GraphQLClient, clock: FrozenClock
) -> None:
    await _setup(tgql)
    await provision_customer(tgql, customerId="acme", subscription={"planId": "lab"})
    clock.advance(timedelta(days=8))
    again = await subscribed(tgql, customerId="acme", planId="lab")
    assert (again["planId"], again["status"], again["trialEndDate"]) == ("lab", "ACTIVE", None)


# --- 5. un-cancel -----------------------------------------------------------------------------


async def test_resume_an_end_of_period_cancellation(
    tgql: GraphQLClient, clock: FrozenClock
) -> None:
    await _setup(tgql)
    mid = await _paying(tgql, "acme", "mid")
    canceled = await cancel(tgql, subscriptionId=mid["id"], at="END_OF_PERIOD")
    assert canceled["subscription"]["endDate"] is not None
    assert ("free", "SCHEDULED") in _plans(await subscriptions(tgql, "acme"))
    resumed = await resume(tgql, subscriptionId=mid["id"])
    assert resumed["errors"] == []
    sub = resumed["subscription"]
    assert (sub["status"], sub["endDate"], sub["canceledAt"]) == ("ACTIVE", None, None)
    assert ("free", "SCHEDULED") not in _plans(await subscriptions(tgql, "acme"))
    clock.advance(timedelta(days=40))
    assert _plans(await live(tgql, "acme")) == [("mid", "ACTIVE")]
    assert await _seats(tgql, "acme") == 10
    assert codes(await resume(tgql, subscriptionId=mid["id"])) == ["INVALID_INPUT"]


async def test_resume_a_date_cancellation_and_not_an_ended_one(
    tgql: GraphQLClient, clock: FrozenClock
) -> None:
    await _setup(tgql)
    mid = await _paying(tgql, "acme", "mid")
    date = START + timedelta(days=3)
    assert (await cancel(tgql, subscriptionId=mid["id"], at="DATE", date=iso(date)))["errors"] == []
    assert (await resume(tgql, subscriptionId=mid["id"]))["errors"] == []
    clock.advance(timedelta(days=4))
    assert await _seats(tgql, "acme") == 10
    assert (await cancel(tgql, subscriptionId=mid["id"]))["errors"] == []
    assert codes(await resume(tgql, subscriptionId=mid["id"])) == ["SUBSCRIPTION_ENDED"]


# --- 6. endDate at provisioning ---------------------------------------------------------------


async def test_end_date_at_provisioning(tgql: GraphQLClient, clock: FrozenClock) -> None:
    await _setup(tgql)
    end = START + timedelta(days=90)
    payload = await provision_customer(
        tgql,
        customerId="acme",
        subscription={"planId": "top", "skipTrial": True, "endDate": iso(end)},
    )
    assert payload["errors"] == []
    assert when(payload["subscription"]["endDate"]) == end
    clock.set(end - timedelta(seconds=1))
    assert await _seats(tgql, "acme") == 20
    clock.set(end)
    assert await _seats(tgql, "acme") == 3  # the default plan from the contract's end
    clock.set(START)
    await provision_customer(tgql, customerId="x")
    bad = await subscribe(
        tgql, customerId="x", planId="top", skipTrial=True, endDate=iso(START - timedelta(days=1))
    )
    assert codes(bad) == ["INVALID_INPUT"] and bad["errors"][0]["field"] == ["endDate"]


async def test_end_date_on_a_plan_change(tgql: GraphQLClient) -> None:
    await _setup(tgql)
    mid = await _paying(tgql, "acme", "mid")
    end = START + timedelta(days=30)
    changed = await subscribed(tgql, customerId="acme", planId="top", endDate=iso(end))
    assert (changed["id"], changed["planId"], when(changed["endDate"])) == (mid["id"], "top", end)


# --- 7. resourceId only on multi-subscription products ------------------------------------


async def test_resource_id_on_a_single_subscription_product_is_refused(
    tgql: GraphQLClient,
) -> None:
    await _setup(tgql)
    refused = await provision_customer(
        tgql, customerId="acme", subscription={"planId": "mid", "resourceId": "ws1"}
    )
    assert codes(refused) == ["INVALID_INPUT"]
    assert refused["errors"][0]["field"] == ["resourceId"]
    await _paying(tgql, "acme", "mid")
    change = await subscribe(tgql, customerId="acme", planId="top", resourceId="ws1")
    assert codes(change) == ["INVALID_INPUT"]
    trial = await subscribe(
        tgql, customerId="acme", planId="top", resourceId="ws1", trial={"days": 3}
    )
    assert codes(trial) == ["INVALID_INPUT"]
    ok = await subscribed(tgql, customerId="acme", planId="ws-basic", resourceId="ws1")
    assert ok["resourceId"] == "ws1"


async def test_update_trial_end_moves_the_fallback(tgql: GraphQLClient, clock: FrozenClock) -> None:
    await _setup(tgql)
    lab = (await provision_customer(tgql, customerId="acme", subscription={"planId": "lab"}))[
        "subscription"
    ]
    later = START + timedelta(days=20)
    assert (await update(tgql, subscriptionId=lab["id"], trialEndDate=iso(later)))["errors"] == []
    clock.set(START + timedelta(days=10))
    assert await _seats(tgql, "acme") == 5
    clock.set(later)
    assert await _seats(tgql, "acme") == 3
    assert _plans(await live(tgql, "acme")) == [("free", "ACTIVE")]


async def test_a_future_plan_withdraws_the_pending_fallback(
    tgql: GraphQLClient, clock: FrozenClock
) -> None:
    await _setup(tgql)
    await provision_customer(tgql, customerId="acme", subscription={"planId": "lab"})
    later = await subscribed(
        tgql,
        customerId="acme",
        planId="mid",
        skipTrial=True,
        startDate=iso(START + timedelta(days=3)),
    )
    clock.advance(timedelta(days=8))  # past the lab trial's end: only the future plan
    assert [s["id"] for s in await live(tgql, "acme")] == [later["id"]]
    assert await _seats(tgql, "acme") == 10


async def test_resume_is_audited(tgql: GraphQLClient) -> None:
    await _setup(tgql)
    mid = await _paying(tgql, "acme", "mid")
    await cancel(tgql, subscriptionId=mid["id"], at="END_OF_PERIOD")
    assert (await resume(tgql, subscriptionId=mid["id"]))["errors"] == []
    entries = [
        e["node"]
        for e in (await tgql.execute(AUDIT, {"op": "resumeSubscription"}))["auditLog"]["edges"]
    ]
    assert ("SUBSCRIPTION", mid["id"], "UPDATE") in {
        (e["entityType"], e["entityId"], e["action"]) for e in entries
    }


async def test_a_cancellation_after_a_cancel_trial_ends_keeps_the_trial_end(
    tgql: GraphQLClient, clock: FrozenClock
) -> None:
    await _setup(tgql)
    lab = (await provision_customer(tgql, customerId="acme", subscription={"planId": "lab"}))[
        "subscription"
    ]
    late = START + timedelta(days=20)
    canceled = await cancel(tgql, subscriptionId=lab["id"], at="DATE", date=iso(late))
    assert canceled["errors"] == []
    assert canceled["subscription"]["endDate"] == lab["trialEndDate"]
    clock.set(START + timedelta(days=8))
    assert (await subscription(tgql, lab["id"]))["status"] == "EXPIRED"  # type: ignore[index]
    assert await _seats(tgql, "acme") == 3


async def test_converting_an_invoiced_trial_early_invoices_now(tgql: GraphQLClient) -> None:
    await _setup(tgql)
    lab = (
        await provision_customer(
            tgql,
            customerId="acme",
            subscription={"planId": "lab", "billing": {"mode": "INVOICE"}},
        )
    )["subscription"]
    invoices = "query($id: String!) { subscription(id: $id) { invoices { total issuedAt } } }"
    assert (await tgql.execute(invoices, {"id": lab["id"]}))["subscription"]["invoices"] == []
    assert (await end_trial(tgql, subscriptionId=lab["id"], action="CONVERT"))["errors"] == []
    issued = (await tgql.execute(invoices, {"id": lab["id"]}))["subscription"]["invoices"]
    assert [(i["total"], when(i["issuedAt"])) for i in issued] == [("30.00", START)]
