"""Pricing: a subscription's charges for a billing period, exactly, in one currency.

Pure: it takes the subscription's *terms* (the plan's and add-ons' canonical prices, quantities,
per-subscription values and price overrides) and returns invoice lines. Money is `Decimal`;
each line's amount is `quantity x unitAmount` rounded half-even to the currency's minor units
(CLDR's data, through babel); a total is the sum of its (rounded) lines. The rules are written
out in docs/billing.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

from app.domain.billing.choices import InvoiceLineKind
from app.domain.money import ZERO, decimal_of, plain_quantity, tier_parts, to_money
from app.domain.periods import Period
from app.errors import DomainError, ErrorCode

PERIOD_LABEL = {"MONTHLY": "monthly", "ANNUALLY": "annual"}


@dataclass(frozen=True)
class Line:
    """One charge: `amount = round(quantity x unit_amount)`."""

    description: str
    quantity: Decimal
    unit_amount: Decimal
    amount: Decimal
    kind: InvoiceLineKind
    feature_id: str | None = None
    addon_id: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "quantity": str(self.quantity),
            "unitAmount": str(self.unit_amount),
            "amount": str(self.amount),
            "kind": self.kind,
            "featureId": self.feature_id,
            "addonId": self.addon_id,
            "periodStart": self.period_start.isoformat() if self.period_start else None,
            "periodEnd": self.period_end.isoformat() if self.period_end else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Line:
        def when(key: str) -> datetime | None:
            return datetime.fromisoformat(data[key]) if data.get(key) else None

        return cls(
            description=data["description"],
            quantity=Decimal(data["quantity"]),
            unit_amount=Decimal(data["unitAmount"]),
            amount=Decimal(data["amount"]),
            kind=InvoiceLineKind(data.get("kind", InvoiceLineKind.BASE)),
            feature_id=data.get("featureId"),
            addon_id=data.get("addonId"),
            period_start=when("periodStart"),
            period_end=when("periodEnd"),
        )


@dataclass(frozen=True)
class PricedAddon:
    addon_id: str
    name: str
    quantity: int
    prices: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Terms:
    """What prices a subscription: everything here comes from its plan version, add-on
    versions and per-subscription values."""

    plan_id: str
    plan_name: str
    billing_period: str
    prices: tuple[dict[str, Any], ...] = ()
    addons: tuple[PricedAddon, ...] = ()
    # PER_UNIT quantities by featureId: the subscription's limit (None = unlimited).
    units: Mapping[str, Decimal | None] = field(default_factory=dict)
    overrides: tuple[dict[str, Any], ...] = ()
    feature_names: Mapping[str, str] = field(default_factory=dict)

    def override_for(self, addon_id: str | None) -> dict[str, Any] | None:
        return next((o for o in self.overrides if o.get("addonId") == addon_id), None)

    def has_usage_prices(self) -> bool:
        every = [*self.prices, *(p for a in self.addons for p in a.prices)]
        return any(p["model"] == "USAGE_BASED" for p in every)


# --- currency ---------------------------------------------------------------------------------


def currency_of(terms: Terms) -> str | None:
    """The currency the subscription is billed in: its price overrides' (all in one), else
    the first, alphabetically, of the plan's price currencies (the same default an override
    without a currency gets), else of its add-ons'. None when nothing is priced."""
    override_currencies = sorted({str(o["currency"]) for o in terms.overrides})
    if len(override_currencies) > 1:
        raise DomainError(
            ErrorCode.INVALID_CURRENCY,
            "price overrides must all be in one currency; got " + ", ".join(override_currencies),
            ["priceOverrides"],
        )
    if override_currencies:
        return override_currencies[0]
    for prices in (terms.prices, tuple(p for a in terms.addons for p in a.prices)):
        currencies = sorted({str(p["currency"]) for p in prices})
        if currencies:
            return currencies[0]
    return None


def _applicable(
    prices: Sequence[dict[str, Any]], currency: str, billing_period: str, what: str
) -> list[dict[str, Any]]:
    """The prices in the subscription's currency and billing period; an error when the
    package has prices but none of them fits (it cannot be billed as asked)."""
    fitting = [
        p for p in prices if p["currency"] == currency and p["billingPeriod"] == billing_period
    ]
    if prices and not fitting:
        if not any(p["currency"] == currency for p in prices):
            raise DomainError(
                ErrorCode.INVALID_CURRENCY, f"{what} has no price in {currency}", ["currency"]
            )
        raise DomainError(
            ErrorCode.INVALID_PRICE,
            f"{what} has no {billing_period} price in {currency}",
            ["billingPeriod"],
        )
    return fitting


# --- lines ------------------------------------------------------------------------------------


def line(
    description: str,
    quantity: Decimal,
    unit_amount: Decimal,
    currency: str,
    kind: InvoiceLineKind,
    *,
    feature_id: str | None = None,
    addon_id: str | None = None,
    period: Period | None = None,
) -> Line:
    with localcontext() as ctx:
        ctx.prec = 80
        exact = quantity * unit_amount
    return Line(
        description=description,
        quantity=plain_quantity(quantity),
        unit_amount=unit_amount,
        amount=to_money(exact, currency),
        kind=kind,
        feature_id=feature_id,
        addon_id=addon_id,
        period_start=period.start if period else None,
        period_end=period.end if period else None,
    )


def _priced_lines(
    price: Mapping[str, Any],
    quantity: Decimal,
    description: str,
    currency: str,
    kind: InvoiceLineKind,
    period: Period | None,
    addon_id: str | None = None,
) -> list[Line]:
    feature_id = price.get("featureId")
    if "tiers" not in price:
        return [
            line(
                description,
                quantity,
                decimal_of(price["amount"]),
                currency,
                kind,
                feature_id=feature_id,
                addon_id=addon_id,
                period=period,
            )
        ]
    return [
        line(
            f"{description}, {part.label}",
            part.quantity,
            part.unit_amount,
            currency,
            InvoiceLineKind.TIER_FLAT if part.is_flat else kind,
            feature_id=feature_id,
            addon_id=addon_id,
            period=period,
        )
        for part in tier_parts(quantity, price["tiers"], price["tierMode"])
    ]


def _feature_name(terms: Terms, feature_id: str) -> str:
    return terms.feature_names.get(feature_id) or feature_id


def _unit_quantity(terms: Terms, feature_id: str) -> Decimal:
    if feature_id not in terms.units:
        return ZERO  # the plan grants none of it
    units = terms.units[feature_id]
    if units is None:
        raise DomainError(
            ErrorCode.INVALID_PRICE,
            f"{feature_id!r} is unlimited on this subscription: a per-unit price needs a limit",
            ["entitlements", feature_id],
        )
    return units


def advance_lines(terms: Terms, currency: str, period: Period | None = None) -> list[Line]:
    """The charges billed in advance for one billing period: the plan's flat fee (or its
    base-charge override), its per-unit prices x the subscription's limit, and each add-on's
    price (or override) x quantity."""
    label = PERIOD_LABEL.get(terms.billing_period, terms.billing_period.lower())
    lines: list[Line] = []
    base = terms.override_for(None)
    plan_prices = _applicable(
        terms.prices if base is None else (),
        currency,
        terms.billing_period,
        f"plan {terms.plan_id!r}",
    ) or [
        p
        for p in terms.prices
        if p["currency"] == currency and p["billingPeriod"] == terms.billing_period
    ]
    if base is not None:
        lines.append(
            line(
                f"{terms.plan_name} ({label}, negotiated price)",
                Decimal(1),
                decimal_of(base["amount"]),
                currency,
                InvoiceLineKind.BASE,
                period=period,
            )
        )
    for price in plan_prices:
        if price["model"] == "FLAT_FEE" and base is None:
            lines.append(
                line(
                    f"{terms.plan_name} ({label})",
                    Decimal(1),
                    decimal_of(price["amount"]),
                    currency,
                    InvoiceLineKind.BASE,
                    period=period,
                )
            )
        elif price["model"] == "PER_UNIT":
            feature_id = price["featureId"]
            lines.extend(
                _priced_lines(
                    price,
                    _unit_quantity(terms, feature_id),
                    f"{_feature_name(terms, feature_id)} (per unit, {label})",
                    currency,
                    InvoiceLineKind.PER_UNIT,
                    period,
                )
            )
    for addon in terms.addons:
        lines.extend(_addon_lines(terms, addon, currency, label, period))
    return lines


def _addon_lines(
    terms: Terms, addon: PricedAddon, currency: str, label: str, period: Period | None
) -> list[Line]:
    description = f"{addon.name} add-on ({label})"
    quantity = Decimal(addon.quantity)
    override = terms.override_for(addon.addon_id)
    if override is not None:
        return [
            line(
                f"{addon.name} add-on ({label}, negotiated price)",
                quantity,
                decimal_of(override["amount"]),
                currency,
                InvoiceLineKind.ADDON,
                addon_id=addon.addon_id,
                period=period,
            )
        ]
    lines: list[Line] = []
    for price in _applicable(
        addon.prices, currency, terms.billing_period, f"add-on {addon.addon_id!r}"
    ):
        if price["model"] == "USAGE_BASED":
            continue  # billed in arrears (usage_lines)
        # FLAT_FEE and PER_UNIT add-on prices are both per add-on unit bought; tiers apply
        # to the quantity (volume discounts on add-ons).
        if "tiers" in price or price["model"] == "PER_UNIT":
            lines.extend(
                _priced_lines(
                    price,
                    quantity,
                    description,
                    currency,
                    InvoiceLineKind.ADDON,
                    period,
                    addon.addon_id,
                )
            )
        else:
            lines.append(
                line(
                    description,
                    quantity,
                    decimal_of(price["amount"]),
                    currency,
                    InvoiceLineKind.ADDON,
                    addon_id=addon.addon_id,
                    period=period,
                )
            )
    return lines


def usage_lines(
    terms: Terms, currency: str, usage: Mapping[str, Decimal], period: Period | None = None
) -> list[Line]:
    """The usage-based charges for a period that has ended (billed in arrears): each
    USAGE_BASED price of the plan and its add-ons x the period's usage of its feature."""
    when = f", {period.start:%Y-%m-%d} to {period.end:%Y-%m-%d}" if period else ""
    lines: list[Line] = []
    sources: list[tuple[str | None, Sequence[dict[str, Any]], str]] = [
        (None, terms.prices, f"plan {terms.plan_id!r}")
    ]
    sources += [(a.addon_id, a.prices, f"add-on {a.addon_id!r}") for a in terms.addons]
    for addon_id, prices, what in sources:
        metered = [p for p in prices if p["model"] == "USAGE_BASED"]
        for price in _applicable(metered, currency, terms.billing_period, what):
            feature_id = price["featureId"]
            quantity = usage.get(feature_id, ZERO)
            if quantity < 0:
                raise ValueError("usage is never negative")
            lines.extend(
                _priced_lines(
                    price,
                    quantity,
                    f"{_feature_name(terms, feature_id)} usage{when}",
                    currency,
                    InvoiceLineKind.USAGE,
                    period,
                    addon_id,
                )
            )
    return lines


def total_of(lines: Sequence[Line]) -> Decimal:
    return sum((ln.amount for ln in lines), ZERO)


def check_billable(terms: Terms) -> str | None:
    """The billing currency, after checking that every charge of the subscription can be
    priced in it (advance and usage-based): a subscription that could not be invoiced is
    refused when it is provisioned, not at its first renewal."""
    currency = currency_of(terms)
    if currency is not None:
        advance_lines(terms, currency)
        usage_lines(terms, currency, {})
    return currency


def price_period(
    terms: Terms,
    usage: Mapping[str, Decimal] | None = None,
    currency: str | None = None,
) -> tuple[str | None, list[Line], Decimal]:
    """(currency, lines, total) of one billing period: advance charges, plus usage charges
    when the usage of a period is given."""
    currency = currency or check_billable(terms)
    if currency is None:
        return None, [], ZERO
    lines = advance_lines(terms, currency)
    if usage is not None:
        lines += usage_lines(terms, currency, usage)
    return currency, lines, total_of(lines)
