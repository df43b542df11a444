"""Pricing tables and properties: every price model, both tier modes, overrides, quantities,
currencies and rounding. Pure: no database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.billing.pricing import (
    PricedAddon,
    Terms,
    advance_lines,
    check_billable,
    currency_of,
    price_period,
    total_of,
    usage_lines,
)
from app.domain.money import minor_units, tier_parts, to_money
from app.errors import DomainError, ErrorCode

D = Decimal


def flat(amount: str, currency: str = "USD", period: str = "MONTHLY") -> dict[str, Any]:
    return {"model": "FLAT_FEE", "billingPeriod": period, "amount": amount, "currency": currency}


def per_unit(feature: str, amount: str | None = None, **tiered: Any) -> dict[str, Any]:
    price: dict[str, Any] = {
        "model": "PER_UNIT",
        "billingPeriod": "MONTHLY",
        "currency": "USD",
        "featureId": feature,
    }
    return {**price, "amount": amount} if amount is not None else {**price, **tiered}


def usage(feature: str, amount: str | None = None, **tiered: Any) -> dict[str, Any]:
    return {**per_unit(feature, amount, **tiered), "model": "USAGE_BASED"}


TIERS = [
    {"upTo": 1000, "unitAmount": "0.00"},
    {"upTo": 10000, "unitAmount": "0.002", "flatAmount": "5.00"},
    {"unitAmount": "0.001"},
]


def terms(**kw: Any) -> Terms:
    base: dict[str, Any] = {"plan_id": "pro", "plan_name": "Pro", "billing_period": "MONTHLY"}
    return Terms(**{**base, **kw})


def amounts(lines: Any) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    return [(ln.kind, ln.quantity, ln.unit_amount, ln.amount) for ln in lines]


# --- tables -------------------------------------------------------------------------------------

CASES: list[tuple[str, Terms, dict[str, Decimal] | None, str]] = [
    ("flat fee", terms(prices=(flat("49.00"),)), None, "49.00"),
    (
        "annual flat fee",
        terms(billing_period="ANNUALLY", prices=(flat("490", period="ANNUALLY"),)),
        None,
        "490.00",
    ),
    (
        "per unit x plan limit",
        terms(prices=(per_unit("seats", "12.50"),), units={"seats": D(10)}),
        None,
        "125.00",
    ),
    ("per unit, feature not granted", terms(prices=(per_unit("seats", "12.50"),)), None, "0.00"),
    (
        "flat + per unit",
        terms(prices=(flat("49"), per_unit("seats", "10")), units={"seats": D(3)}),
        None,
        "79.00",
    ),
    (
        "add-on x quantity",
        terms(
            prices=(flat("49"),), addons=(PricedAddon("extra", "Extra seats", 3, (flat("10"),)),)
        ),
        None,
        "79.00",
    ),
    (
        "free add-on",
        terms(prices=(flat("49"),), addons=(PricedAddon("audit", "Audit", 1),)),
        None,
        "49.00",
    ),
    (
        "base override",
        terms(prices=(flat("49"),), overrides=({"amount": "39.99", "currency": "USD"},)),
        None,
        "39.99",
    ),
    (
        "base override on a custom plan (no prices)",
        terms(overrides=({"amount": "4000", "currency": "EUR"},)),
        None,
        "4000.00",
    ),
    (
        "add-on override is per unit",
        terms(
            prices=(flat("49"),),
            addons=(PricedAddon("extra", "Extra", 4, (flat("10"),)),),
            overrides=({"addonId": "extra", "amount": "7.5", "currency": "USD"},),
        ),
        None,
        "79.00",
    ),
    ("usage, simple rate", terms(prices=(usage("api", "0.01"),)), {"api": D(1234)}, "12.34"),
    ("usage, no usage", terms(prices=(usage("api", "0.01"),)), {}, "0.00"),
    (
        "usage, graduated",
        terms(prices=(usage("api", tierMode="GRADUATED", tiers=TIERS),)),
        {"api": D(12000)},
        "25.00",
    ),  # 0 + 9000 x 0.002 + 5 + 2000 x 0.001
    (
        "usage, volume",
        terms(prices=(usage("api", tierMode="VOLUME", tiers=TIERS),)),
        {"api": D(12000)},
        "12.00",
    ),  # all 12000 x 0.001, no flat in tier 3
    (
        "usage, volume in a tier with a flat amount",
        terms(prices=(usage("api", tierMode="VOLUME", tiers=TIERS),)),
        {"api": D(5000)},
        "15.00",
    ),
    (
        "usage, first tier bound is inclusive",
        terms(prices=(usage("api", tierMode="GRADUATED", tiers=TIERS),)),
        {"api": D(1000)},
        "0.00",
    ),
    (
        "per unit, volume tiers on the limit",
        terms(
            prices=(
                per_unit(
                    "seats",
                    tierMode="VOLUME",
                    tiers=[{"upTo": 10, "unitAmount": "10"}, {"unitAmount": "8"}],
                ),
            ),
            units={"seats": D(25)},
        ),
        None,
        "200.00",
    ),
    ("half-even rounding, down", terms(prices=(usage("api", "0.005"),)), {"api": D(1)}, "0.00"),
    ("half-even rounding, up", terms(prices=(usage("api", "0.015"),)), {"api": D(1)}, "0.02"),
    ("fractional usage", terms(prices=(usage("api", "2.5"),)), {"api": D("0.3")}, "0.75"),
]


@pytest.mark.parametrize(("name", "t", "use", "total"), CASES, ids=[c[0] for c in CASES])
def test_pricing_table(name: str, t: Terms, use: dict[str, Decimal] | None, total: str) -> None:
    currency, lines, computed = price_period(t, use)
    assert computed == D(total), (name, amounts(lines))
    assert computed == total_of(lines)
    assert currency is not None
    for ln in lines:
        assert ln.amount == to_money(ln.quantity * ln.unit_amount, currency)


def test_graduated_lines_one_per_tier_with_flat_amounts() -> None:
    t = terms(prices=(usage("api", tierMode="GRADUATED", tiers=TIERS),))
    lines = usage_lines(t, "USD", {"api": D(12000)})
    assert amounts(lines) == [
        ("USAGE", D(1000), D("0.00"), D("0.00")),
        ("USAGE", D(9000), D("0.002"), D("18.00")),
        ("TIER_FLAT", D(1), D("5.00"), D("5.00")),
        ("USAGE", D(2000), D("0.001"), D("2.00")),
    ]
    assert "tier 2 (1000-10000)" in lines[1].description


def test_base_override_replaces_flat_fee_but_not_per_unit() -> None:
    t = terms(
        prices=(flat("49"), per_unit("seats", "10")),
        units={"seats": D(5)},
        overrides=({"amount": "100", "currency": "USD"},),
    )
    assert amounts(advance_lines(t, "USD")) == [
        ("BASE", D(1), D("100"), D("100.00")),
        ("PER_UNIT", D(5), D("10"), D("50.00")),
    ]


def test_minor_units_per_currency() -> None:
    assert (minor_units("USD"), minor_units("JPY"), minor_units("KWD")) == (2, 0, 3)
    t = terms(prices=(usage("api", "0.5"),))
    t_jpy = Terms(**{**t.__dict__, "prices": ({**usage("api", "0.5"), "currency": "JPY"},)})
    assert price_period(t_jpy, {"api": D(3)})[2] == D(2)  # 1.5 -> 2 (half-even)
    assert price_period(t_jpy, {"api": D(5)})[2] == D(2)  # 2.5 -> 2 (half-even)
    t_kwd = Terms(**{**t.__dict__, "prices": ({**flat("1.2345"), "currency": "KWD"},)})
    assert price_period(t_kwd)[2] == D("1.234")


def test_currency_rules() -> None:
    multi = terms(prices=(flat("49", "USD"), flat("45", "EUR")))
    assert currency_of(multi) == "EUR"  # the first alphabetically, like an override's default
    overridden = terms(prices=multi.prices, overrides=({"amount": "40", "currency": "USD"},))
    assert currency_of(overridden) == "USD"
    assert price_period(overridden)[2] == D(40)
    assert currency_of(terms()) is None
    assert price_period(terms()) == (None, [], D(0))


@pytest.mark.parametrize(
    ("t", "code"),
    [
        (
            terms(
                overrides=(
                    {"amount": "1", "currency": "USD"},
                    {"addonId": "x", "amount": "1", "currency": "EUR"},
                )
            ),
            ErrorCode.INVALID_CURRENCY,
        ),
        (terms(billing_period="ANNUALLY", prices=(flat("49"),)), ErrorCode.INVALID_PRICE),
        (
            terms(prices=(flat("49"),), addons=(PricedAddon("x", "X", 1, (flat("5", "EUR"),)),)),
            ErrorCode.INVALID_CURRENCY,
        ),
        (terms(prices=(per_unit("seats", "1"),), units={"seats": None}), ErrorCode.INVALID_PRICE),
        (
            terms(prices=(flat("49"), {**usage("api", "1"), "billingPeriod": "ANNUALLY"})),
            ErrorCode.INVALID_PRICE,
        ),
    ],
    ids=[
        "mixed override currencies",
        "no price for the period",
        "add-on not in currency",
        "per unit on unlimited",
        "usage price not in the period",
    ],
)
def test_unbillable_terms_are_typed_errors(t: Terms, code: ErrorCode) -> None:
    with pytest.raises(DomainError) as raised:
        check_billable(t)
    assert raised.value.code == code


# --- properties ---------------------------------------------------------------------------------

money = st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False)
quantities = st.decimals(
    min_value=0, max_value=10**7, places=2, allow_nan=False, allow_infinity=False
)


@st.composite
def tier_lists(draw: st.DrawFn) -> list[dict[str, Any]]:
    bounds = sorted(draw(st.sets(st.integers(1, 10**6), min_size=0, max_size=4)))
    tiers: list[dict[str, Any]] = []
    for bound in [*bounds, None]:
        tier: dict[str, Any] = {"unitAmount": str(draw(money))}
        if draw(st.booleans()):
            tier["flatAmount"] = str(draw(money))
        if bound is not None:
            tier["upTo"] = bound
        tiers.append(tier)
    return tiers


@given(tier_lists(), quantities)
def test_graduated_splits_the_whole_quantity(tiers: list[dict[str, Any]], q: Decimal) -> None:
    parts = [p for p in tier_parts(q, tiers, "GRADUATED") if not p.is_flat]
    assert sum((p.quantity for p in parts), D(0)) == q
    assert all(p.quantity >= 0 for p in parts)


@given(tier_lists(), quantities, quantities)
def test_graduated_charge_never_falls_as_usage_grows(
    tiers: list[dict[str, Any]], a: Decimal, b: Decimal
) -> None:
    t = terms(prices=(usage("api", tierMode="GRADUATED", tiers=tiers),))
    low, high = sorted((a, b))
    assert price_period(t, {"api": low})[2] <= price_period(t, {"api": high})[2]


@given(tier_lists(), quantities)
def test_volume_prices_every_unit_at_one_tier(tiers: list[dict[str, Any]], q: Decimal) -> None:
    parts = tier_parts(q, tiers, "VOLUME")
    units = [p for p in parts if not p.is_flat]
    assert len(units) == 1 and units[0].quantity == q
    assert len([p for p in parts if p.is_flat]) <= 1


@given(money, st.integers(0, 10**4), st.sampled_from(["USD", "JPY", "KWD", "EUR"]))
def test_lines_are_rounded_and_add_up(unit: Decimal, quantity: int, currency: str) -> None:
    price = {**flat(str(unit), currency)}
    addon_price = {**flat(str(unit), currency)}
    t = terms(prices=(price,), addons=(PricedAddon("a", "A", max(quantity, 1), (addon_price,)),))
    _, lines, total = price_period(t)
    assert total == sum((ln.amount for ln in lines), D(0))
    places = minor_units(currency)
    for ln in lines:
        exponent = ln.amount.as_tuple().exponent
        assert isinstance(exponent, int) and -exponent == places


@given(
    st.decimals(
        min_value=-(10**9), max_value=10**9, places=6, allow_nan=False, allow_infinity=False
    )
)
def test_half_even_rounding_is_within_half_a_minor_unit(amount: Decimal) -> None:
    rounded = to_money(amount, "USD")
    assert abs(rounded - amount) <= D("0.005")
    if abs(rounded - amount) == D("0.005"):
        assert (rounded * 100) % 2 == 0  # ties go to the even cent
