"""Tests for app.domain.catalog.rules: table tests of the canonical forms and their errors,
property tests that canonical forms are fixed points (what makes catalog apply idempotent)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.catalog import prices as catalog_prices
from app.domain.catalog import rules
from app.errors import DomainError, ErrorCode

METERED = {"id": "seats", "type": "METERED"}
BOOLEAN = {"id": "sso", "type": "BOOLEAN"}
NUMBER = {"id": "retention", "type": "CONFIGURATION", "valueType": "NUMBER"}
ENUM = {"id": "region", "type": "CONFIGURATION", "valueType": "ENUM", "enumValues": ["eu", "us"]}
TYPES = {"seats": "METERED", "sso": "BOOLEAN"}


def fails(code: ErrorCode, field: list[str], fn: Any, /, *args: Any, **kwargs: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        fn(*args, **kwargs)
    assert (caught.value.code, caught.value.field) == (code, field), caught.value
    return caught.value


# --- ids, names, numbers --------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a", "seats", "api-calls", "A1.b_c:d", "9", "x" * 100])
def test_valid_ids(value: str) -> None:
    assert rules.check_id(value, ["id"]) == value


@pytest.mark.parametrize(
    "value", ["", " ", "-a", "_a", "a b", "a/b", "é", "x" * 101, "seats\n", "\nseats", None, 7]
)
def test_invalid_ids(value: Any) -> None:
    fails(ErrorCode.INVALID_INPUT, ["id"], rules.check_id, value, ["id"])


def test_names() -> None:
    assert rules.check_name(None, ["name"], "default") == "default"
    assert rules.check_name("Pro", ["name"]) == "Pro"
    fails(ErrorCode.INVALID_INPUT, ["name"], rules.check_name, "n" * 201, ["name"])
    fails(ErrorCode.INVALID_INPUT, ["name"], rules.check_name, 5, ["name"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0), (5, 5), (5.0, 5), (0.5, 0.5), (1e15, 10**15), (2.5e-7, 2.5e-7)],
)
def test_canonical_number(value: float, expected: float) -> None:
    got = rules.canonical_number(value, ["n"])
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    "value", [True, "5", None, float("nan"), float("inf"), -1, -0.001, 1e15 + 2, 10**16, 1e300]
)
def test_invalid_numbers(value: Any) -> None:
    fails(ErrorCode.INVALID_INPUT, ["n"], rules.canonical_number, value, ["n"])


def test_number_minimum_and_code() -> None:
    assert rules.canonical_number(-3, ["n"], minimum=None) == -3
    fails(
        ErrorCode.INVALID_ENTITLEMENT,
        ["n"],
        rules.canonical_number,
        -1,
        ["n"],
        code=ErrorCode.INVALID_ENTITLEMENT,
    )


# --- money and currencies -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("49", "49.00"), ("49.0", "49.00"), ("49.00", "49.00"), ("49.000", "49.00"),
        ("49.5", "49.50"), ("0.001", "0.001"), ("0.0010", "0.001"), ("0.000001", "0.000001"),
        ("1.0000000", "1.00"), ("0", "0.00"), ("-0", "0.00"), ("0E-12", "0.00"),
        ("1e3", "1000.00"), ("1E+2", "100.00"), (" 7 ", "7.00"), (".5", "0.50"), ("+3", "3.00"),
        (49, "49.00"), (Decimal("12.30"), "12.30"),
        ("999999999999999.999999", "999999999999999.999999"),
    ],
)  # fmt: skip
def test_canonical_money(value: Any, expected: str) -> None:
    assert catalog_prices.canonical_money(value, ["amount"]) == expected


@pytest.mark.parametrize(
    "value",
    [
        49.5, True, None, "", "abc", "1,00", "1_000", "12.5.1", "NaN", "Infinity", "-1", "-0.01",
        "0.0000001", "1e-7", "1e15", "1000000000000000", "1e30", "1e400", Decimal("NaN"),
    ],
)  # fmt: skip
def test_invalid_money(value: Any) -> None:
    fails(ErrorCode.INVALID_PRICE, ["amount"], catalog_prices.canonical_money, value, ["amount"])


def test_money_error_code_can_be_chosen() -> None:
    fails(
        ErrorCode.INVALID_INPUT,
        ["x"],
        catalog_prices.canonical_money,
        "-1",
        ["x"],
        ErrorCode.INVALID_INPUT,
    )


MONEY = st.decimals(
    min_value=0, max_value=Decimal("999999999999999"), places=6, allow_nan=False
).map(str)


@given(MONEY)
def test_canonical_money_is_idempotent_and_exact(value: str) -> None:
    canonical = catalog_prices.canonical_money(value, ["amount"])
    assert catalog_prices.canonical_money(canonical, ["amount"]) == canonical
    assert Decimal(canonical) == Decimal(value)
    places = -int(Decimal(canonical).as_tuple().exponent)
    assert 2 <= places <= catalog_prices.MAX_MONEY_PLACES


@given(MONEY, st.integers(min_value=0, max_value=4))
def test_equal_amounts_have_one_canonical_form(value: str, zeros: int) -> None:
    padded = value + ("0" * zeros if "." in value else "." + "0" * zeros if zeros else "")
    assert catalog_prices.canonical_money(padded, ["a"]) == catalog_prices.canonical_money(
        value, ["a"]
    )


@pytest.mark.parametrize(("value", "expected"), [("USD", "USD"), ("eur", "EUR"), ("Jpy", "JPY")])
def test_currencies(value: str, expected: str) -> None:
    assert catalog_prices.check_currency(value, ["currency"]) == expected


@pytest.mark.parametrize("value", ["", "US", "USDX", "XXX", "ABC", None, 840])
def test_invalid_currencies(value: Any) -> None:
    fails(
        ErrorCode.INVALID_CURRENCY, ["currency"], catalog_prices.check_currency, value, ["currency"]
    )


# --- features -------------------------------------------------------------------------------


def test_feature_canonical_forms() -> None:
    assert rules.canonical_feature({"id": "sso", "type": "BOOLEAN"}) == {
        "id": "sso",
        "name": "sso",
        "type": "BOOLEAN",
    }
    assert rules.canonical_feature({"id": "r", "type": "CONFIGURATION"})["valueType"] == "NUMBER"
    metered = rules.canonical_feature(
        {
            "id": "calls",
            "type": "METERED",
            "unit": "call",
            "description": "",
            "meter": {"eventName": "call", "filters": [{"dimension": "code", "values": [200]}]},
        }
    )
    assert metered == {
        "id": "calls",
        "name": "calls",
        "type": "METERED",
        "unit": "call",
        "meter": {
            "eventName": "call",
            "aggregation": "COUNT",
            "filters": [{"dimension": "code", "operator": "IN", "values": ["200"]}],
        },
    }
    assert rules.canonical_feature(metered) == metered


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"id": "a", "type": "COLOR"}, ["type"]),
        ({"id": "a", "type": "BOOLEAN", "color": "red"}, ["color"]),
        ({"id": "a", "type": "METERED", "meter": {"eventName": "e", "window": 1}},
         ["meter", "window"]),
        ({"id": "a", "type": "METERED", "meter": "e"}, ["meter"]),
        ({"id": "a", "type": "METERED", "meter": {"eventName": "e", "aggregation": "AVG"}},
         ["meter", "aggregation"]),
        ({"id": "a", "type": "METERED", "meter": {"eventName": "e", "filters": {}}},
         ["meter", "filters"]),
        ({"id": "a", "type": "METERED",
          "meter": {"eventName": "e", "filters": [{"dimension": "", "values": ["x"]}]}},
         ["meter", "filters", "0", "dimension"]),
        ({"id": "a", "type": "CONFIGURATION", "valueType": "ENUM", "enumValues": ["x", ""]},
         ["enumValues"]),
    ],
)  # fmt: skip
def test_invalid_features(raw: dict[str, Any], field: list[str]) -> None:
    fails(ErrorCode.INVALID_INPUT, field, rules.canonical_feature, raw)


# --- entitlements ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "feature", "kwargs", "expected"),
    [
        ({}, BOOLEAN, {}, {}),
        (None, BOOLEAN, {}, {}),
        ({"limit": 10.0}, METERED, {}, {"limit": 10}),
        ({"limit": 10, "softLimit": False, "unlimited": False}, METERED, {}, {"limit": 10}),
        ({"unlimited": True, "softLimit": True}, METERED, {},
         {"unlimited": True, "softLimit": True}),
        ({"limit": 5, "resetPeriod": "MONTH"}, METERED, {}, {"limit": 5, "resetPeriod": "MONTH"}),
        ({"limit": 5, "resetPeriod": "DAY", "resetAnchor": "SUBSCRIPTION_START"}, METERED, {},
         {"limit": 5, "resetPeriod": "DAY"}),
        ({"limit": 5, "resetPeriod": "DAY", "resetAnchor": "CALENDAR"}, METERED, {},
         {"limit": 5, "resetPeriod": "DAY", "resetAnchor": "CALENDAR"}),
        ({"value": 30.0}, NUMBER, {}, {"value": 30}),
        ({"value": -1.5}, NUMBER, {}, {"value": -1.5}),
        ({"enumValues": ["us", "eu", "us"]}, ENUM, {}, {"enumValues": ["eu", "us"]}),
        ({"variable": True}, METERED, {"custom_plan": True}, {"variable": True}),
        ({"variable": False, "limit": 1}, METERED, {}, {"limit": 1}),
        ({"limit": 5}, METERED, {"on_addon": True}, {"limit": 5}),
        ({"limit": 5, "behavior": "INCREMENT"}, METERED, {"on_addon": True}, {"limit": 5}),
        ({"unlimited": True, "behavior": "OVERRIDE"}, METERED, {"on_addon": True},
         {"unlimited": True, "behavior": "OVERRIDE"}),
        ({"enumValues": ["us"], "behavior": "OVERRIDE"}, ENUM, {"on_addon": True},
         {"enumValues": ["us"], "behavior": "OVERRIDE"}),
    ],
)  # fmt: skip
def test_canonical_entitlements(
    raw: Any, feature: dict[str, Any], kwargs: dict[str, Any], expected: dict[str, Any]
) -> None:
    got = rules.canonical_entitlement(raw, feature, ["e"], **kwargs)
    assert got == expected
    assert rules.canonical_entitlement(got, feature, ["e"], **kwargs) == got


@pytest.mark.parametrize(
    ("raw", "feature", "kwargs", "field"),
    [
        ({"limit": 1}, BOOLEAN, {}, ["e", "limit"]),
        ({"value": 1}, METERED, {}, ["e", "value"]),
        ({"limit": -1}, METERED, {}, ["e", "limit"]),
        ({"limit": "10"}, METERED, {}, ["e", "limit"]),
        ({"limit": 1, "unlimited": True}, METERED, {}, ["e", "limit"]),
        ({"unlimited": "yes"}, METERED, {}, ["e", "unlimited"]),
        ({}, METERED, {}, ["e", "limit"]),
        ({"limit": 1, "resetPeriod": "FORTNIGHT"}, METERED, {}, ["e", "resetPeriod"]),
        ({"limit": 1, "resetAnchor": "CALENDAR"}, METERED, {}, ["e", "resetAnchor"]),
        ({"value": 1, "softLimit": True}, NUMBER, {}, ["e", "softLimit"]),
        ({"enumValues": ["eu"]}, NUMBER, {}, ["e", "enumValues"]),
        ({}, NUMBER, {}, ["e", "value"]),
        ({"value": float("nan")}, NUMBER, {}, ["e", "value"]),
        ({"value": 1}, ENUM, {}, ["e", "value"]),
        ({"enumValues": ["mars"]}, ENUM, {}, ["e", "enumValues", "0"]),
        ({"enumValues": "eu"}, ENUM, {}, ["e", "enumValues"]),
        ({"variable": True}, METERED, {}, ["e", "variable"]),
        ({"variable": "yes"}, METERED, {"custom_plan": True}, ["e", "variable"]),
        ({"variable": True}, METERED, {"on_addon": True, "custom_plan": True}, ["e", "variable"]),
        ({"limit": 1, "behavior": "OVERRIDE"}, METERED, {}, ["e", "behavior"]),
        ({"behavior": "OVERRIDE"}, BOOLEAN, {"on_addon": True}, ["e", "behavior"]),
        ({"unlimited": True}, METERED, {"on_addon": True}, ["e", "unlimited"]),
        ({"limit": 1, "behavior": "REPLACE"}, METERED, {"on_addon": True}, ["e", "behavior"]),
    ],
)
def test_invalid_entitlements(
    raw: Any, feature: dict[str, Any], kwargs: dict[str, Any], field: list[str]
) -> None:
    fails(
        ErrorCode.INVALID_ENTITLEMENT,
        field,
        rules.canonical_entitlement,
        raw,
        feature,
        ["e"],
        **kwargs,
    )


def test_unknown_entitlement_option() -> None:
    fails(
        ErrorCode.INVALID_INPUT,
        ["e", "max"],
        rules.canonical_entitlement,
        {"max": 1},
        METERED,
        ["e"],
    )


METERED_ENTITLEMENTS = st.fixed_dictionaries(
    {},
    optional={
        "limit": st.one_of(
            st.integers(min_value=0, max_value=10**15),
            st.floats(min_value=0, max_value=1e15, allow_nan=False),
        ),
        "softLimit": st.booleans(),
        "resetPeriod": st.sampled_from(rules.RESET_PERIODS),
        "resetAnchor": st.sampled_from(rules.RESET_ANCHORS),
        "variable": st.booleans(),
    },
)


@given(METERED_ENTITLEMENTS, st.booleans())
def test_canonical_entitlement_is_a_fixed_point(raw: dict[str, Any], custom: bool) -> None:
    try:
        canonical = rules.canonical_entitlement(raw, METERED, ["e"], custom_plan=custom)
    except DomainError as error:
        assert error.code is ErrorCode.INVALID_ENTITLEMENT
        return
    again = rules.canonical_entitlement(canonical, METERED, ["e"], custom_plan=custom)
    assert again == canonical
    assert all(v is not False and v is not None for v in canonical.values())  # no defaults
    if "limit" in raw:
        assert canonical["limit"] == raw["limit"]


# --- prices ---------------------------------------------------------------------------------


def test_price_canonical_forms() -> None:
    flat = catalog_prices.canonical_price({"amount": "49", "currency": "usd"}, ["p"], TYPES.get)
    assert flat == {
        "model": "FLAT_FEE",
        "billingPeriod": "MONTHLY",
        "currency": "USD",
        "amount": "49.00",
    }
    tiered = catalog_prices.canonical_price(
        {
            "model": "USAGE_BASED",
            "featureId": "seats",
            "currency": "EUR",
            "billingPeriod": "ANNUALLY",
            "tiers": [{"upTo": 10.0, "unitAmount": "1", "flatAmount": "0"}, {"unitAmount": "0.5"}],
        },
        ["p"],
        TYPES.get,
    )
    assert tiered == {
        "model": "USAGE_BASED",
        "billingPeriod": "ANNUALLY",
        "currency": "EUR",
        "featureId": "seats",
        "tierMode": "GRADUATED",
        "tiers": [{"upTo": 10, "unitAmount": "1.00", "flatAmount": "0.00"}, {"unitAmount": "0.50"}],
    }
    for price in (flat, tiered):
        assert catalog_prices.canonical_price(price, ["p"], TYPES.get) == price


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        ({"amount": "1"}, ErrorCode.INVALID_CURRENCY, ["p", "currency"]),
        ({"amount": "1", "currency": "USD", "model": "BARTER"}, ErrorCode.INVALID_PRICE,
         ["p", "model"]),
        ({"amount": "1", "currency": "USD", "billingPeriod": "WEEKLY"}, ErrorCode.INVALID_PRICE,
         ["p", "billingPeriod"]),
        ({"amount": 1.5, "currency": "USD"}, ErrorCode.INVALID_PRICE, ["p", "amount"]),
        ({"model": "PER_UNIT", "featureId": "sso", "amount": "1", "currency": "USD"},
         ErrorCode.INVALID_PRICE, ["p", "featureId"]),
        ({"model": "PER_UNIT", "featureId": "nope", "amount": "1", "currency": "USD"},
         ErrorCode.FEATURE_NOT_FOUND, ["p", "featureId"]),
        ({"model": "PER_UNIT", "featureId": "seats", "currency": "USD", "tierMode": "VOLUME",
          "tiers": [{"upTo": 5, "unitAmount": "1"}, {"upTo": 3, "unitAmount": "1"}]},
         ErrorCode.INVALID_PRICE, ["p", "tiers", "1", "upTo"]),
        ({"model": "PER_UNIT", "featureId": "seats", "currency": "USD", "tierMode": "STAIRS",
          "tiers": [{"unitAmount": "1"}]}, ErrorCode.INVALID_PRICE, ["p", "tierMode"]),
        ({"model": "PER_UNIT", "featureId": "seats", "currency": "USD",
          "tiers": [{"upTo": 1e16, "unitAmount": "1"}, {"unitAmount": "1"}]},
         ErrorCode.INVALID_PRICE, ["p", "tiers", "0", "upTo"]),
        ({"amount": "1", "currency": "USD", "discount": "5"}, ErrorCode.INVALID_INPUT,
         ["p", "discount"]),
    ],
)  # fmt: skip
def test_invalid_prices(raw: dict[str, Any], code: ErrorCode, field: list[str]) -> None:
    fails(code, field, catalog_prices.canonical_price, raw, ["p"], TYPES.get)


# --- trials and parents ---------------------------------------------------------------------


def test_trials() -> None:
    assert rules.canonical_trial(None, ["t"]) is None
    assert rules.canonical_trial({"days": 14}, ["t"]) == {
        "days": 14,
        "endBehavior": "CONVERT_TO_PAID",
    }
    cancel = {"days": 7, "endBehavior": "CANCEL"}
    assert rules.canonical_trial(cancel, ["t"]) == cancel
    for days in (0, -1, 3651, 1.5, True, "7", None):
        fails(ErrorCode.INVALID_INPUT, ["t", "days"], rules.canonical_trial, {"days": days}, ["t"])
    fails(
        ErrorCode.INVALID_INPUT,
        ["t", "endBehavior"],
        rules.canonical_trial,
        {"days": 7, "endBehavior": "EXTEND"},
        ["t"],
    )


@pytest.mark.parametrize(
    ("parents", "start", "expected"),
    [
        ({}, "a", None),
        ({"a": None}, "a", None),
        ({"c": "b", "b": "a", "a": None}, "c", None),
        ({"a": "a"}, "a", ["a", "a"]),
        ({"a": "b", "b": "a"}, "a", ["a", "b", "a"]),
        ({"a": "c", "c": "b", "b": "a"}, "a", ["a", "c", "b", "a"]),
        ({"x": "a", "a": "b", "b": "a"}, "x", ["x", "a", "b", "a"]),  # a cycle above x
    ],
)
def test_find_parent_cycle(
    parents: dict[str, str | None], start: str, expected: list[str] | None
) -> None:
    assert rules.find_parent_cycle(start, parents.get) == expected


PLAN_IDS = st.sampled_from(["a", "b", "c", "d", "e", "f"])


@given(st.dictionaries(PLAN_IDS, PLAN_IDS), PLAN_IDS)
def test_find_parent_cycle_matches_a_walk(parents: dict[str, str], start: str) -> None:
    cycle = rules.find_parent_cycle(start, parents.get)
    walk, current = [start], parents.get(start)
    for _ in range(len(parents) + 1):  # a chain without a cycle ends within len(parents) steps
        if current is None:
            break
        walk.append(current)
        current = parents.get(current)
    if current is None:
        assert cycle is None
    else:
        assert cycle is not None
        assert cycle[-1] in cycle[:-1]  # it ends where it comes back
        assert len(set(cycle)) == len(cycle) - 1  # and visits nothing else twice
        assert cycle == walk[: len(cycle)]
