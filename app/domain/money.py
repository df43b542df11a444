"""Money and tiers: exact decimal amounts rounded to a currency's minor units, and how a
quantity splits over price tiers. Pure; used by `app.domain.billing.pricing`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from babel.numbers import get_currency_precision

ZERO = Decimal(0)


def minor_units(currency: str) -> int:
    """Decimal places of the currency's minor unit: USD 2, JPY 0, KWD 3 (CLDR, via babel)."""
    return int(get_currency_precision(currency))


def to_money(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded half-even (banker's rounding) to the currency's minor units."""
    with localcontext() as ctx:
        ctx.prec = 80  # 10^15 x 10^15 with 6 places fits; never rounds before quantize
        return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), ROUND_HALF_EVEN)


def plain_quantity(value: Decimal) -> Decimal:
    """A quantity without trailing zeros or an exponent: 2000.0 -> 2000, 0.30 -> 0.3."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def decimal_of(value: Any) -> Decimal:
    """A canonical catalog number (int/float) or money string as an exact Decimal. Floats go
    through their shortest repr (1500.0 -> 1500.0, 0.1 -> 0.1), never their binary value."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


# --- tiers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TierPart:
    label: str
    quantity: Decimal
    unit_amount: Decimal
    is_flat: bool = False


def _bound(tier: Mapping[str, Any]) -> Decimal | None:
    return None if tier.get("upTo") is None else decimal_of(tier["upTo"])


def _range(lower: Decimal, upper: Decimal | None) -> str:
    return f"above {lower}" if upper is None else f"{lower}-{upper}"


def tier_parts(quantity: Decimal, tiers: Sequence[Mapping[str, Any]], mode: str) -> list[TierPart]:
    """Split a quantity over tiers (`upTo` bounds are inclusive).

    VOLUME: every unit at the unit price of the tier the whole quantity reaches, plus that
    tier's flat amount. GRADUATED: each tier prices the units that fall in it, plus its flat
    amount when any unit does. A zero quantity reaches no tier and costs nothing.
    """
    if quantity < 0:
        raise ValueError("a quantity is never negative")
    if quantity == 0:
        return [TierPart("no units", ZERO, decimal_of(tiers[0].get("unitAmount", "0")))]
    parts: list[TierPart] = []
    lower = ZERO
    for number, tier in enumerate(tiers, start=1):
        upper = _bound(tier)
        unit = decimal_of(tier.get("unitAmount", "0"))
        flat = tier.get("flatAmount")
        name = f"tier {number} ({_range(lower, upper)})"
        if mode == "VOLUME":
            if upper is None or quantity <= upper:
                parts.append(TierPart(name, quantity, unit))
                if flat is not None:
                    parts.append(TierPart(f"{name} flat fee", Decimal(1), decimal_of(flat), True))
                return parts
        else:
            units = min(quantity, upper) - lower if upper is not None else quantity - lower
            if units > 0:
                parts.append(TierPart(name, units, unit))
                if flat is not None:
                    parts.append(TierPart(f"{name} flat fee", Decimal(1), decimal_of(flat), True))
            if upper is None or quantity <= upper:
                return parts
        lower = upper if upper is not None else lower
    return parts  # pragma: no cover - the last tier is open-ended (checked at publish)


# --- formatting ---------------------------------------------------------------------------------


def _places(amount: Decimal) -> int:
    exponent = amount.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def format_money(amount: Decimal, currency: str) -> str:
    """An amount as printed on invoices: the ISO code, then the number with thousands
    separators and the currency's minor units ("USD 4,900.00", "JPY 12,000")."""
    return f"{currency} {to_money(amount, currency):,.{minor_units(currency)}f}"


def format_unit_amount(amount: Decimal, currency: str) -> str:
    """A unit price: at least the currency's minor units, more when the price has them
    ("USD 0.002")."""
    places = max(minor_units(currency), _places(amount))
    return f"{currency} {amount:,.{places}f}"


def format_quantity(quantity: Decimal) -> str:
    """A quantity without trailing zeros: "1", "12,000", "0.3"."""
    return f"{quantity:,.{_places(quantity)}f}"
