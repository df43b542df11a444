"""previewSubscription: the charges a provisioning would produce, with nothing stored; and
the typed errors of bad prices."""

from __future__ import annotations

from typing import Any

import pytest

from tests.graphql.billing.catalog import PREVIEW, new_customer
from tests.graphql.billing.conftest import errors_of
from tests.support import GraphQLClient

CUSTOMER = (
    """query($id: String!) { customer(id: $id) { id subscriptions { id } invoices { id } } }"""
)


async def preview(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    return await gql.mutate(PREVIEW, {"input": fields})  # type: ignore[no-any-return]


async def test_preview_of_an_enterprise_deal_stores_nothing(bgql: GraphQLClient) -> None:
    payload = await preview(
        bgql,
        customerId="prospect",  # not a customer yet: a deal can be priced before it closes
        planId="enterprise",
        entitlements=[{"featureId": "seats", "limit": 250}],
        addons=[{"addonId": "extra-seats", "quantity": 4}],
        priceOverrides=[
            {"amount": "4000", "currency": "USD"},
            {"addonId": "extra-seats", "amount": "8.50", "currency": "USD"},
        ],
        billing={"mode": "INVOICE", "paymentTermsDays": 30},
        idempotencyKey="opp-1",
    )
    assert payload["errors"] == []
    assert payload["currency"] == "USD" and payload["total"] == "4034.00"
    assert [
        (ln["kind"], ln["quantity"], ln["unitAmount"], ln["amount"]) for ln in payload["lines"]
    ] == [
        ("BASE", "1", "4000.00", "4000.00"),
        ("ADDON", "4", "8.50", "34.00"),
    ]
    assert payload["periodStart"] == "2025-01-31T09:00:00+00:00"
    assert payload["periodEnd"] == "2025-02-28T09:00:00+00:00"
    assert (await bgql.execute(CUSTOMER, {"id": "prospect"}))["customer"] is None


async def test_preview_of_an_existing_customer_leaves_it_as_it_was(bgql: GraphQLClient) -> None:
    await new_customer(bgql, "acme")
    payload = await preview(bgql, customerId="acme", planId="team", subscriptionId="s1")
    assert payload["errors"] == [] and payload["total"] == "70.00"  # 20 + 5 seats x 10
    assert (await bgql.execute(CUSTOMER, {"id": "acme"}))["customer"] == {
        "id": "acme",
        "subscriptions": [],
        "invoices": [],
    }
    # The same id is still free: nothing was kept.
    again = await preview(
        bgql, customerId="acme", planId="pro", subscriptionId="s1", billingPeriod="ANNUALLY"
    )
    assert again["errors"] == [] and again["total"] == "490.00"


async def test_per_subscription_seat_value_prices_per_unit(bgql: GraphQLClient) -> None:
    payload = await preview(
        bgql, customerId="c", planId="team", entitlements=[{"featureId": "seats", "limit": 12}]
    )
    assert payload["total"] == "140.00"  # 20 + 12 x 10


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        (
            {"planId": "pro", "priceOverrides": [{"amount": "40", "currency": "EUR"}]},
            "INVALID_CURRENCY",
            ["priceOverrides", "0", "currency"],
        ),
        (
            {"planId": "pro", "priceOverrides": [{"amount": "-5"}]},
            "INVALID_PRICE",
            ["priceOverrides", "0", "amount"],
        ),
        (
            {"planId": "pro", "priceOverrides": [{"amount": "40", "currency": "usd?"}]},
            "INVALID_CURRENCY",
            ["priceOverrides", "0", "currency"],
        ),
        ({"planId": "team", "billingPeriod": "ANNUALLY"}, "INVALID_PRICE", ["billingPeriod"]),
        ({"planId": "nope"}, "PLAN_NOT_FOUND", ["planId"]),
        ({"planId": "enterprise"}, "INVALID_INPUT", ["entitlements"]),
        (
            {"planId": "pro", "addons": [{"addonId": "extra-seats", "quantity": 51}]},
            "ADDON_QUANTITY_EXCEEDED",
            ["addons", "0", "quantity"],
        ),
    ],
    ids=[
        "override currency not priced",
        "negative override",
        "not a currency",
        "no price for the period",
        "unknown plan",
        "variable value missing",
        "too many add-ons",
    ],
)
async def test_bad_input_is_a_typed_error(
    bgql: GraphQLClient, fields: dict[str, Any], code: str, field: list[str]
) -> None:
    payload = await preview(bgql, customerId="acme", **fields)
    assert errors_of(payload) == [code], payload["errors"]
    assert payload["errors"][0]["field"] == field
    assert payload["lines"] == [] and payload["total"] is None


async def test_a_client_key_cannot_preview(bgql: GraphQLClient, billing_tenant: Any) -> None:
    response = await bgql.with_key(billing_tenant.client_key).post(
        PREVIEW, {"input": {"customerId": "acme", "planId": "pro"}}
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
