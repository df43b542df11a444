"""The rules of prices and money in the catalog (and in per-subscription price overrides):
what a valid price, tier, amount and currency look like, in canonical form (see
catalog_rules.py for what canonical means)."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import pycountry

from app.domain.catalog.choices import PriceModel, TierMode
from app.domain.catalog.rules import (
    Path,
    canonical_number,
    check_choice,
    invalid,
    mapping_of,
    reject_unknown,
)
from app.domain.periods import BillingPeriod
from app.errors import DomainError, ErrorCode

PRICE_MODELS = tuple(PriceModel)
BILLING_PERIODS = tuple(BillingPeriod)
TIER_MODES = tuple(TierMode)
MONEY_PATTERN = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
MAX_MONEY_PLACES = 6
MAX_MONEY_DIGITS = 15  # whole-number digits: amounts stay below 10**15 (a quadrillion)


def canonical_money(value: Any, path: Path, code: ErrorCode = ErrorCode.INVALID_PRICE) -> str:
    """Exact decimal money, never a float: "49", "49.0" and "49.000" are all "49.00";
    "0.001" stays "0.001". At most MAX_MONEY_PLACES significant decimal places (trailing
    zeros do not count) and below 10**MAX_MONEY_DIGITS."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise invalid('money must be a decimal string such as "49.00", not a float', path, code)
    text = str(value).strip()
    if not MONEY_PATTERN.fullmatch(text):
        raise invalid(f"not a decimal amount: {value!r}", path, code)
    try:
        amount = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise invalid(f"not a decimal amount: {value!r}", path, code) from None
    if amount < 0:
        raise invalid(f"amount must not be negative; got {value}", path, code)
    if amount >= Decimal(10) ** MAX_MONEY_DIGITS:
        raise invalid(f"amount must be below 10^{MAX_MONEY_DIGITS}; got {value}", path, code)
    if amount == 0:
        return "0.00"  # also "-0", "0E-9"
    # Drop trailing zeros exactly (Decimal.normalize would round to the context precision).
    _, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)
    kept = list(digits)
    while exponent < 0 and kept[-1] == 0:
        kept.pop()
        exponent += 1
    if -exponent > MAX_MONEY_PLACES:
        raise invalid(f"amount has more than {MAX_MONEY_PLACES} decimal places", path, code)
    amount = Decimal((0, tuple(kept), exponent))
    if exponent > -2:
        # At most 15 + 2 digits: well within the default context precision (28).
        amount = amount.quantize(Decimal("0.01"))
    return str(amount)


def check_currency(value: Any, path: Path) -> str:
    """An ISO 4217 code, upper-cased. XXX ("no currency involved") is no currency to price in."""
    code = value.upper() if isinstance(value, str) else None
    if code is None or code == "XXX" or pycountry.currencies.get(alpha_3=code) is None:
        raise invalid(f"not an ISO 4217 currency code: {value!r}", path, ErrorCode.INVALID_CURRENCY)
    return code


PRICE_KEYS = ("model", "billingPeriod", "amount", "currency", "featureId", "tierMode", "tiers")


def canonical_price(
    raw: Any, path: Path, feature_type_of: Callable[[str], str | None]
) -> dict[str, Any]:
    """Check one price. `feature_type_of(id)` returns a feature's type, or None if unknown."""
    data = mapping_of(raw, path)
    reject_unknown(data, PRICE_KEYS, path)

    code = ErrorCode.INVALID_PRICE

    def bad(message: str, key: str) -> DomainError:
        return invalid(message, [*path, key], code)

    model = check_choice(data.get("model", "FLAT_FEE"), PRICE_MODELS, [*path, "model"], code)
    out: dict[str, Any] = {
        "model": model,
        "billingPeriod": check_choice(
            data.get("billingPeriod", "MONTHLY"), BILLING_PERIODS, [*path, "billingPeriod"], code
        ),
        "currency": check_currency(data.get("currency"), [*path, "currency"]),
    }
    if model == "FLAT_FEE":
        for key in ("featureId", "tierMode", "tiers"):
            if data.get(key) is not None:
                raise bad(f"{key} does not apply to a FLAT_FEE price", key)
    else:
        feature_id = data.get("featureId")
        ftype = feature_type_of(feature_id) if isinstance(feature_id, str) else None
        if ftype is None:
            raise invalid(
                f"a {model} price needs the featureId of an existing feature",
                [*path, "featureId"],
                ErrorCode.FEATURE_NOT_FOUND,
            )
        if ftype != "METERED":
            raise bad(f"a {model} price must be for a METERED feature", "featureId")
        out["featureId"] = feature_id
    tiers = data.get("tiers")
    if tiers is not None:
        if model == "FLAT_FEE":
            raise bad("tiers need a PER_UNIT or USAGE_BASED price", "tiers")
        if data.get("amount") is not None:
            raise bad("give either amount (per unit) or tiers, not both", "amount")
        out["tierMode"] = check_choice(
            data.get("tierMode") or "GRADUATED", TIER_MODES, [*path, "tierMode"], code
        )
        out["tiers"] = canonical_tiers(tiers, [*path, "tiers"])
        return out
    if data.get("tierMode") is not None:
        raise bad("tierMode needs tiers", "tierMode")
    if data.get("amount") is None:
        raise bad("a price needs an amount (or tiers)", "amount")
    out["amount"] = canonical_money(data["amount"], [*path, "amount"])
    return out


def canonical_tiers(raw: Any, path: Path) -> list[dict[str, Any]]:
    """Tiers in ascending `upTo`; the last tier is open-ended (upTo null)."""
    if not isinstance(raw, list) or not raw:
        raise invalid("tiers must be a non-empty list", path, ErrorCode.INVALID_PRICE)
    out: list[dict[str, Any]] = []
    previous = 0.0
    for i, raw_tier in enumerate(raw):
        tpath = [*path, i]
        tier = mapping_of(raw_tier, tpath)
        reject_unknown(tier, ("upTo", "unitAmount", "flatAmount"), tpath)
        last = i == len(raw) - 1
        up_to = tier.get("upTo")
        canonical: dict[str, Any] = {}
        if up_to is None:
            if not last:
                raise invalid(
                    "only the last tier may be open-ended",
                    [*tpath, "upTo"],
                    ErrorCode.INVALID_PRICE,
                )
        else:
            bound = canonical_number(up_to, [*tpath, "upTo"], code=ErrorCode.INVALID_PRICE)
            if bound <= previous:
                raise invalid(
                    "tiers must have increasing upTo bounds",
                    [*tpath, "upTo"],
                    ErrorCode.INVALID_PRICE,
                )
            if last:
                raise invalid(
                    "the last tier must be open-ended (no upTo)",
                    [*tpath, "upTo"],
                    ErrorCode.INVALID_PRICE,
                )
            previous = float(bound)
            canonical["upTo"] = bound
        if tier.get("unitAmount") is None and tier.get("flatAmount") is None:
            raise invalid(
                "a tier needs unitAmount and/or flatAmount", tpath, ErrorCode.INVALID_PRICE
            )
        for key in ("unitAmount", "flatAmount"):
            if tier.get(key) is not None:
                canonical[key] = canonical_money(tier[key], [*tpath, key])
        out.append(canonical)
    return out
