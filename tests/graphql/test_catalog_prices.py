"""Prices of plans through GraphQL: flat, per unit, usage based with tiers; exact decimals in
a currency; and every way to get a price wrong (each refusal changes nothing)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.graphql.catalog_helpers import ok, plan, refused, snapshot, standard_catalog
from tests.support import GraphQLClient


@pytest.fixture
async def catalog(gql: GraphQLClient) -> GraphQLClient:
    await standard_catalog(gql)
    return gql


async def test_flat_fees_monthly_and_annually(catalog: GraphQLClient) -> None:
    prices = [
        {"amount": "49", "currency": "usd"},
        {"amount": "490.5", "currency": "USD", "billingPeriod": "ANNUALLY"},
        {"amount": 45, "currency": "EUR", "model": "FLAT_FEE"},
    ]
    created = await plan(catalog, "pro", prices=prices, publish=True)
    assert created["prices"] == [
        {
            "model": "FLAT_FEE",
            "billingPeriod": "MONTHLY",
            "amount": "49.00",
            "currency": "USD",
            "featureId": None,
            "tierMode": None,
            "tiers": None,
        },
        {
            "model": "FLAT_FEE",
            "billingPeriod": "ANNUALLY",
            "amount": "490.50",
            "currency": "USD",
            "featureId": None,
            "tierMode": None,
            "tiers": None,
        },
        {
            "model": "FLAT_FEE",
            "billingPeriod": "MONTHLY",
            "amount": "45.00",
            "currency": "EUR",
            "featureId": None,
            "tierMode": None,
            "tiers": None,
        },
    ]
    assert created["versions"][0]["prices"] == created["prices"]


@pytest.mark.parametrize(
    ("amount", "canonical"),
    [
        ("0.001", "0.001"),
        ("12.3400", "12.34"),
        ("7.000000", "7.00"),
        ("0.000001", "0.000001"),
        ("1E+2", "100.00"),
        ("0", "0.00"),
        ("-0", "0.00"),
        ("999999999999999.99", "999999999999999.99"),
    ],
)
async def test_per_unit_amounts_are_exact(
    catalog: GraphQLClient, amount: str, canonical: str
) -> None:
    price = {"model": "PER_UNIT", "featureId": "seats", "amount": amount, "currency": "USD"}
    created = await plan(catalog, "pro", prices=[price])
    assert created["prices"][0]["amount"] == canonical
    assert created["prices"][0]["featureId"] == "seats"


@pytest.mark.parametrize("mode", ["VOLUME", "GRADUATED"])
async def test_usage_based_tiers(catalog: GraphQLClient, mode: str) -> None:
    price = {
        "model": "USAGE_BASED",
        "featureId": "api-calls",
        "currency": "USD",
        "tierMode": mode,
        "tiers": [
            {"upTo": 1000, "unitAmount": "0"},
            {"upTo": 10000, "unitAmount": "0.002", "flatAmount": "5"},
            {"unitAmount": "0.001"},
        ],
    }
    created = await plan(catalog, "pro", prices=[price])
    (got,) = created["prices"]
    assert (got["model"], got["tierMode"], got["amount"]) == ("USAGE_BASED", mode, None)
    assert got["tiers"] == [
        {"upTo": 1000.0, "unitAmount": "0.00", "flatAmount": None},
        {"upTo": 10000.0, "unitAmount": "0.002", "flatAmount": "5.00"},
        {"upTo": None, "unitAmount": "0.001", "flatAmount": None},
    ]


async def test_tier_mode_defaults_to_graduated(catalog: GraphQLClient) -> None:
    price = {
        "model": "PER_UNIT",
        "featureId": "seats",
        "currency": "USD",
        "tiers": [{"upTo": 5, "unitAmount": "10"}, {"unitAmount": "8"}],
    }
    assert (await plan(catalog, "pro", prices=[price]))["prices"][0]["tierMode"] == "GRADUATED"


async def test_usage_based_with_one_amount(catalog: GraphQLClient) -> None:
    price = {"model": "USAGE_BASED", "featureId": "api-calls", "amount": "0.01", "currency": "GBP"}
    got = (await plan(catalog, "pro", prices=[price]))["prices"][0]
    assert (got["amount"], got["currency"], got["tiers"]) == ("0.01", "GBP", None)


async def test_custom_plan_may_have_a_list_price(catalog: GraphQLClient) -> None:
    prices = [{"amount": "999", "currency": "USD"}]
    assert (await plan(catalog, "ent", pricingType="CUSTOM", prices=prices))["prices"]


def _price(**fields: Any) -> dict[str, Any]:
    return {"prices": [{"currency": "USD", **fields}]}


def _tiers(*tiers: dict[str, Any]) -> dict[str, Any]:
    return _price(model="USAGE_BASED", featureId="api-calls", tiers=list(tiers))


P0 = ["prices", "0"]
CUR = [*P0, "currency"]
BAD_PRICES: list[tuple[str, dict[str, Any], str, list[str]]] = [
    ("two-letter currency", _price(amount="1", currency="US"), "INVALID_CURRENCY", CUR),
    ("unknown currency", _price(amount="1", currency="EURO"), "INVALID_CURRENCY", CUR),
    ("no-currency code", _price(amount="1", currency="XXX"), "INVALID_CURRENCY", CUR),
    ("empty currency", _price(amount="1", currency=""), "INVALID_CURRENCY", CUR),
    ("negative amount", _price(amount="-1"), "INVALID_PRICE", [*P0, "amount"]),
    ("seven decimals", _price(amount="0.0000001"), "INVALID_PRICE", [*P0, "amount"]),
    ("too large", _price(amount="1e15"), "INVALID_PRICE", [*P0, "amount"]),
    ("NaN", _price(amount="NaN"), "INVALID_PRICE", [*P0, "amount"]),
    ("Infinity", _price(amount="Infinity"), "INVALID_PRICE", [*P0, "amount"]),
    ("no amount", _price(), "INVALID_PRICE", [*P0, "amount"]),
    ("flat fee for a feature", _price(amount="1", featureId="seats"), "INVALID_PRICE",
     [*P0, "featureId"]),
    ("flat fee with tiers", _price(tiers=[{"unitAmount": "1"}]), "INVALID_PRICE", [*P0, "tiers"]),
    ("per unit without feature", _price(model="PER_UNIT", amount="1"), "FEATURE_NOT_FOUND",
     [*P0, "featureId"]),
    ("per unit unknown feature", _price(model="PER_UNIT", featureId="nope", amount="1"),
     "FEATURE_NOT_FOUND", [*P0, "featureId"]),
    ("per unit of a boolean", _price(model="PER_UNIT", featureId="sso", amount="1"),
     "INVALID_PRICE", [*P0, "featureId"]),
    ("amount and tiers",
     _price(model="PER_UNIT", featureId="seats", amount="1", tiers=[{"unitAmount": "1"}]),
     "INVALID_PRICE", [*P0, "amount"]),
    ("tierMode without tiers",
     _price(model="PER_UNIT", featureId="seats", amount="1", tierMode="VOLUME"),
     "INVALID_PRICE", [*P0, "tierMode"]),
    ("empty tiers", _tiers(), "INVALID_PRICE", [*P0, "tiers"]),
    ("tiers in wrong order",
     _tiers({"upTo": 100, "unitAmount": "1"}, {"upTo": 50, "unitAmount": "1"}, {"unitAmount": "1"}),
     "INVALID_PRICE", [*P0, "tiers", "1", "upTo"]),
    ("equal tier bounds",
     _tiers({"upTo": 100, "unitAmount": "1"}, {"upTo": 100, "unitAmount": "2"}),
     "INVALID_PRICE", [*P0, "tiers", "1", "upTo"]),
    ("zero tier bound", _tiers({"upTo": 0, "unitAmount": "1"}, {"unitAmount": "1"}),
     "INVALID_PRICE", [*P0, "tiers", "0", "upTo"]),
    ("open tier before the last", _tiers({"unitAmount": "1"}, {"unitAmount": "1"}),
     "INVALID_PRICE", [*P0, "tiers", "0", "upTo"]),
    ("bounded last tier", _tiers({"upTo": 10, "unitAmount": "1"}, {"upTo": 20, "unitAmount": "1"}),
     "INVALID_PRICE", [*P0, "tiers", "1", "upTo"]),
    ("tier without amounts", _tiers({"upTo": 10}, {"unitAmount": "1"}), "INVALID_PRICE",
     [*P0, "tiers", "0"]),
    ("negative tier amount", _tiers({"upTo": 10, "unitAmount": "-1"}, {"unitAmount": "1"}),
     "INVALID_PRICE", [*P0, "tiers", "0", "unitAmount"]),
    ("tier amount with 7 places", _tiers({"flatAmount": "0.1234567"}), "INVALID_PRICE",
     [*P0, "tiers", "0", "flatAmount"]),
    ("duplicate prices",
     {"prices": [{"currency": "USD", "amount": "1"}, {"currency": "usd", "amount": "2"}]},
     "INVALID_PRICE", ["prices", "1"]),
    ("free plan with a price", {"pricingType": "FREE", **_price(amount="0")}, "INVALID_PRICE",
     ["prices"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "code", "field"), [c[1:] for c in BAD_PRICES], ids=[c[0] for c in BAD_PRICES]
)
async def test_invalid_price_is_refused(
    catalog: GraphQLClient, fields: dict[str, Any], code: str, field: list[str]
) -> None:
    await refused(catalog, "createPlan", {"id": "p", "productId": "app", **fields}, code, field)
    await plan(catalog, "p", prices=[{"amount": "1", "currency": "USD"}], publish=True)
    await refused(catalog, "updatePlan", {"id": "p", **fields}, code, field)


async def test_turning_a_priced_plan_free_is_refused(catalog: GraphQLClient) -> None:
    await plan(catalog, "p", prices=[{"amount": "1", "currency": "USD"}], publish=True)
    await refused(catalog, "updatePlan", {"id": "p", "pricingType": "FREE"}, "INVALID_PRICE")
    # With the prices removed in the same update it is fine.
    free = await ok(catalog, "updatePlan", {"id": "p", "pricingType": "FREE", "prices": []})
    assert (free["draft"]["pricingType"], free["draft"]["prices"]) == ("FREE", [])


@pytest.mark.parametrize("amount", ["abc", "1,00", "", "12.5.1"])
async def test_non_numeric_amount_is_refused_by_graphql(
    catalog: GraphQLClient, amount: str
) -> None:
    before = await snapshot(catalog)
    query = "mutation($input: CreatePlanInput!) { createPlan(input: $input) { errors { code } } }"
    response = await catalog.post(
        query,
        {"input": {"id": "p", "productId": "app", **_price(amount=amount)}},
    )
    body = response.json()
    if body.get("data"):
        # Should the scalar let it through, the domain must refuse it.
        assert body["data"]["createPlan"]["errors"][0]["code"] == "INVALID_PRICE"
    else:
        assert "Decimal" in body["errors"][0]["message"]
    assert await snapshot(catalog) == before
