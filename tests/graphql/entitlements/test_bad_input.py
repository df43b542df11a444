"""Bad input: every refusal names its code and field, and changes nothing (the customer, its
subscriptions, promotions and entitlement checks read the same before and after). Checks for
unknown customers or features are answers, never errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.clock import FrozenClock
from tests.graphql.entitlements.catalog import apply_catalog, check, new_customer
from tests.graphql.entitlements.conftest import (
    START,
    cancel,
    codes,
    customer,
    grant,
    iso,
    provision_customer,
    revoke,
    subscribe,
    subscribed,
    update,
)
from tests.support import GraphQLClient

ENTITLEMENTS = """query($c: String!) { entitlements(customerId: $c) { featureId hasAccess } }"""
FEATURES = ("seats", "sso", "api-calls", "audit-log", "retention-days")


async def snapshot(gql: GraphQLClient, customer_id: str = "acme") -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    return {
        "customer": await customer(gql, customer_id),
        "checks": [await check(gql, customer_id, f) for f in FEATURES],
        "all": (await gql.execute(ENTITLEMENTS, {"c": customer_id}))["entitlements"],
    }


@pytest.fixture
async def acme(tgql: GraphQLClient, clock: FrozenClock) -> dict[str, Any]:
    """Customer `acme` on pro (with two extra seats) and a trial of enterprise beside it."""
    await apply_catalog(tgql)
    pro = {
        "planId": "pro",
        "skipTrial": True,
        "subscriptionId": "sub-pro",
        "addons": [{"addonId": "extra-seats", "quantity": 2}],
    }
    await new_customer(tgql, "acme", subscription=pro)
    trial = await subscribed(
        tgql,
        customerId="acme",
        planId="enterprise",
        subscriptionId="sub-trial",
        trial={"days": 10},
        entitlements=[{"featureId": "seats", "limit": 40}],
    )
    assert trial["isParallelTrial"]
    clock.advance(timedelta(hours=1))
    return pro


def refused(payload: dict[str, Any], code: str, field: list[str] | None = None) -> None:
    assert codes(payload) == [code], payload["errors"]
    assert payload.get("subscription") is None
    if field is not None:
        assert payload["errors"][0]["field"] == field


PROVISION_CASES: list[tuple[str, dict[str, Any], str, list[str] | None]] = [
    ("unknown customer", {"customerId": "nobody"}, "CUSTOMER_NOT_FOUND", ["customerId"]),
    ("unknown plan", {"planId": "platinum"}, "PLAN_NOT_FOUND", ["planId"]),
    (
        "unknown add-on",
        {"addons": [{"addonId": "nope"}]},
        "ADDON_NOT_FOUND",
        ["addons", "0", "addonId"],
    ),
    (
        "incompatible add-on",
        {"planId": "free", "addons": [{"addonId": "audit"}]},
        "ADDON_NOT_COMPATIBLE",
        ["addons", "0", "addonId"],
    ),
    (
        "quantity over max",
        {"addons": [{"addonId": "extra-seats", "quantity": 51}]},
        "ADDON_QUANTITY_EXCEEDED",
        ["addons", "0", "quantity"],
    ),
    (
        "quantity zero",
        {"addons": [{"addonId": "extra-seats", "quantity": 0}]},
        "INVALID_INPUT",
        ["addons", "0", "quantity"],
    ),
    (
        "add-on twice",
        {"addons": [{"addonId": "audit"}, {"addonId": "audit"}]},
        "INVALID_INPUT",
        ["addons", "1", "addonId"],
    ),
    ("variable without value", {"planId": "enterprise"}, "INVALID_INPUT", ["entitlements"]),
    (
        "value of an unknown feature",
        {"entitlements": [{"featureId": "nothing", "limit": 1}]},
        "FEATURE_NOT_FOUND",
        ["entitlements", "0", "featureId"],
    ),
    (
        "trial ends before it starts",
        {
            "planId": "enterprise",
            "skipTrial": False,
            "subscriptionId": "t2",
            "entitlements": [{"featureId": "seats", "limit": 1}],
            "trial": {"endDate": iso(START - timedelta(days=1))},
        },
        "INVALID_INPUT",
        ["trial", "endDate"],
    ),
    (
        "trial of zero days",
        {"skipTrial": False, "trial": {"days": 0}},
        "INVALID_INPUT",
        ["trial", "days"],
    ),
    (
        "duplicate subscriptionId",
        {"subscriptionId": "sub-trial"},
        "DUPLICATE_ID",
        ["subscriptionId"],
    ),
    (
        "start without a time zone",
        {"startDate": "2024-03-01T00:00:00"},
        "INVALID_INPUT",
        ["startDate"],
    ),
    (
        "price override of a missing add-on",
        {"priceOverrides": [{"addonId": "audit", "amount": "1.00"}]},
        "ADDON_NOT_FOUND",
        None,
    ),
]


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [case[1:] for case in PROVISION_CASES],
    ids=[case[0] for case in PROVISION_CASES],
)
async def test_provision_subscription_refusals_change_nothing(
    tgql: GraphQLClient,
    acme: dict[str, Any],
    fields: dict[str, Any],
    code: str,
    field: list[str] | None,
) -> None:
    before = await snapshot(tgql)
    request = {"customerId": "acme", "planId": "pro", "skipTrial": True, **fields}
    refused(await subscribe(tgql, **request), code, field)
    assert await snapshot(tgql) == before


async def test_provision_customer_with_a_bad_subscription_creates_nothing(
    tgql: GraphQLClient, clock: FrozenClock
) -> None:
    await apply_catalog(tgql)
    payload = await provision_customer(tgql, customerId="new", subscription={"planId": "platinum"})
    assert codes(payload) == ["PLAN_NOT_FOUND"] and payload["customer"] is None
    assert await customer(tgql, "new") is None
    assert (await check(tgql, "new", "seats"))["denyReason"] == "CUSTOMER_NOT_FOUND"


UPDATE_CASES: list[tuple[str, dict[str, Any], str, list[str] | None]] = [
    (
        "unknown subscription",
        {"subscriptionId": "sub-nope"},
        "SUBSCRIPTION_NOT_FOUND",
        ["subscriptionId"],
    ),
    (
        "add-on over max",
        {"addons": [{"addonId": "extra-seats", "quantity": 99}]},
        "ADDON_QUANTITY_EXCEEDED",
        ["addons", "0", "quantity"],
    ),
    ("unknown add-on", {"addons": [{"addonId": "nope"}]}, "ADDON_NOT_FOUND", None),
    (
        "trial end on a paid subscription",
        {"trialEndDate": iso(START + timedelta(days=3))},
        "INVALID_INPUT",
        ["trialEndDate"],
    ),
    (
        "trial end in the past",
        {"subscriptionId": "sub-trial", "trialEndDate": iso(START)},
        "INVALID_INPUT",
        ["trialEndDate"],
    ),
    (
        "variable value dropped",
        {"subscriptionId": "sub-trial", "entitlements": []},
        "INVALID_INPUT",
        ["entitlements"],
    ),
]


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [case[1:] for case in UPDATE_CASES],
    ids=[case[0] for case in UPDATE_CASES],
)
async def test_update_subscription_refusals_change_nothing(
    tgql: GraphQLClient,
    acme: dict[str, Any],
    fields: dict[str, Any],
    code: str,
    field: list[str] | None,
) -> None:
    before = await snapshot(tgql)
    refused(await update(tgql, **{"subscriptionId": "sub-pro", **fields}), code, field)
    assert await snapshot(tgql) == before


CANCEL_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown subscription", {"subscriptionId": "sub-nope"}, "SUBSCRIPTION_NOT_FOUND"),
    ("date in the past", {"at": "DATE", "date": iso(START)}, "INVALID_INPUT"),
    ("date missing", {"at": "DATE"}, "INVALID_INPUT"),
]


@pytest.mark.parametrize(
    ("fields", "code"), [c[1:] for c in CANCEL_CASES], ids=[c[0] for c in CANCEL_CASES]
)
async def test_cancel_refusals_change_nothing(
    tgql: GraphQLClient, acme: dict[str, Any], fields: dict[str, Any], code: str
) -> None:
    before = await snapshot(tgql)
    refused(await cancel(tgql, **{"subscriptionId": "sub-pro", **fields}), code)
    assert await snapshot(tgql) == before


async def test_cancel_of_an_ended_subscription(tgql: GraphQLClient, acme: dict[str, Any]) -> None:
    assert (await cancel(tgql, subscriptionId="sub-trial"))["errors"] == []
    before = await snapshot(tgql)
    for at in ("IMMEDIATE", "END_OF_PERIOD"):
        refused(await cancel(tgql, subscriptionId="sub-trial", at=at), "SUBSCRIPTION_ENDED")
    refused(await update(tgql, subscriptionId="sub-trial", addons=[]), "SUBSCRIPTION_ENDED")
    assert await snapshot(tgql) == before


async def test_promotion_refusals_change_nothing(tgql: GraphQLClient, acme: dict[str, Any]) -> None:
    before = await snapshot(tgql)
    cases: list[tuple[str, list[dict[str, Any]], str]] = [
        ("nobody", [{"featureId": "sso"}], "CUSTOMER_NOT_FOUND"),
        ("acme", [{"featureId": "nothing"}], "FEATURE_NOT_FOUND"),
        ("acme", [{"featureId": "sso", "endDate": iso(START)}], "INVALID_INPUT"),
        (
            "acme",
            [
                {
                    "featureId": "sso",
                    "duration": "ONE_WEEK",
                    "endDate": iso(START + timedelta(days=9)),
                }
            ],
            "INVALID_INPUT",
        ),
        ("acme", [{"featureId": "sso"}, {"featureId": "sso"}], "INVALID_INPUT"),
        ("acme", [], "INVALID_INPUT"),
        # A valid grant next to a bad one: neither is granted.
        ("acme", [{"featureId": "audit-log"}, {"featureId": "nothing"}], "FEATURE_NOT_FOUND"),
    ]
    for customer_id, grants, code in cases:
        payload = await grant(tgql, customer_id, *grants)
        assert codes(payload) == [code], (grants, payload)
    assert codes(await revoke(tgql, "acme", "sso")) == ["NOT_FOUND"]
    assert codes(await revoke(tgql, "nobody", "sso")) == ["CUSTOMER_NOT_FOUND"]
    assert await snapshot(tgql) == before


async def test_unknowns_in_checks_are_answers(tgql: GraphQLClient, acme: dict[str, Any]) -> None:
    for customer_id, feature_id, reason in [
        ("nobody", "seats", "CUSTOMER_NOT_FOUND"),
        ("acme", "nothing", "FEATURE_NOT_FOUND"),
        ("nobody", "nothing", "CUSTOMER_NOT_FOUND"),
    ]:
        answer = await check(tgql, customer_id, feature_id, requested=1)
        assert answer["featureId"] == feature_id
        assert (answer["hasAccess"], answer["denyReason"], answer["sources"]) == (
            False,
            reason,
            [],
        )
    assert (await tgql.execute(ENTITLEMENTS, {"c": "nobody"}))["entitlements"] == []
