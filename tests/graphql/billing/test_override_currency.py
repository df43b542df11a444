"""A price override without a currency takes the plan's currency; on a plan without prices
there is none to take, and the answer says the currency is required (issue 10 item 16)."""

from __future__ import annotations

from typing import Any

from tests.graphql.billing.catalog import PREVIEW
from tests.support import GraphQLClient

SEATS = [{"featureId": "seats", "limit": 250}]


async def preview(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    return await gql.mutate(PREVIEW, {"input": {"customerId": "acme", **fields}})  # type: ignore[no-any-return]


async def test_an_override_without_currency_takes_the_plans(bgql: GraphQLClient) -> None:
    payload = await preview(bgql, planId="pro", priceOverrides=[{"amount": "40"}])
    assert payload["errors"] == []
    assert (payload["currency"], payload["total"]) == ("USD", "40.00")


async def test_a_plan_without_prices_needs_the_currency(bgql: GraphQLClient) -> None:
    payload = await preview(
        bgql, planId="enterprise", entitlements=SEATS, priceOverrides=[{"amount": "4000"}]
    )
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("INVALID_INPUT", ["priceOverrides", "0", "currency"])
    ]
    assert "currency is required" in payload["errors"][0]["message"]
    assert "None" not in payload["errors"][0]["message"]
    given = await preview(
        bgql,
        planId="enterprise",
        entitlements=SEATS,
        addons=[{"addonId": "extra-seats", "quantity": 2}],
        # The add-on's override takes the currency given on the other override.
        priceOverrides=[
            {"amount": "4000", "currency": "USD"},
            {"addonId": "extra-seats", "amount": "8"},
        ],
    )
    assert given["errors"] == [] and (given["currency"], given["total"]) == ("USD", "4016.00")
