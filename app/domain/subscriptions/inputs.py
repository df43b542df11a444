"""Checking the parts of a subscription request: add-ons, per-subscription values, price
overrides, and whether a plan change is an upgrade."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from app.domain.catalog import prices as catalog_prices
from app.domain.catalog import rules
from app.domain.checks.customer_entitlements import CatalogView, has_value
from app.errors import DomainError, ErrorCode
from app.models import Package


def checked_addons(raw: Any, plan: Package, view: CatalogView) -> list[dict[str, Any]]:
    """[{addonId, quantity}] → [{addonId, version, quantity}], compatible and within max."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise DomainError(ErrorCode.INVALID_INPUT, "addons must be a list", ["addons"])
    out, seen = [], set()
    for i, item in enumerate(raw):
        addon_id = item.get("addonId")
        addon = view.addons_by_id.get(addon_id) if isinstance(addon_id, str) else None
        if addon is None or addon.latest_version is None:
            raise DomainError(
                ErrorCode.ADDON_NOT_FOUND,
                f"no published add-on {addon_id!r}",
                ["addons", i, "addonId"],
            )
        if addon.archived_at is not None:
            raise DomainError(
                ErrorCode.ARCHIVED, f"add-on {addon_id!r} is archived", ["addons", i, "addonId"]
            )
        if addon_id in seen:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"add-on {addon_id!r} is listed twice",
                ["addons", i, "addonId"],
            )
        seen.add(addon_id)
        content = view.latest(addon)
        if plan.id not in content.get("compatiblePlans", []) or addon.product_pk != plan.product_pk:
            raise DomainError(
                ErrorCode.ADDON_NOT_COMPATIBLE,
                f"add-on {addon_id!r} is not compatible with plan {plan.id!r}",
                ["addons", i, "addonId"],
            )
        quantity = item.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "quantity must be a whole number >= 1",
                ["addons", i, "quantity"],
            )
        if quantity > content.get("maxQuantity", 1):
            raise DomainError(
                ErrorCode.ADDON_QUANTITY_EXCEEDED,
                f"add-on {addon_id!r} allows at most {content.get('maxQuantity', 1)}",
                ["addons", i, "quantity"],
            )
        out.append({"addonId": addon_id, "version": addon.latest_version, "quantity": quantity})
    return out


def checked_values(
    raw: Any,
    plan_content: Mapping[str, Any],
    view: CatalogView,
    features: Mapping[str, dict[str, Any]],
) -> dict[str, Any]:
    """Per-subscription entitlement values. A variable entitlement without a value in the
    catalog must get one; one with a catalog value (its default) may be left out."""
    values: dict[str, Any] = {}
    for i, item in enumerate(raw or []):
        feature_id = item.get("featureId")
        feature = features.get(feature_id) if isinstance(feature_id, str) else None
        if feature is None:
            raise DomainError(
                ErrorCode.FEATURE_NOT_FOUND,
                f"no feature {feature_id!r}",
                ["entitlements", i, "featureId"],
            )
        options = {k: v for k, v in item.items() if k != "featureId" and v is not None}
        values[feature_id] = rules.canonical_entitlement(options, feature, ["entitlements", i])
    variable = sorted(
        f
        for f, e in plan_content.get("entitlements", {}).items()
        if e.get("variable") and not has_value(e)
    )
    missing = [f for f in variable if f not in values]
    if missing:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "this custom plan needs a value for: " + ", ".join(missing),
            ["entitlements"],
        )
    return values


def checked_overrides(
    raw: Any, plan_content: Mapping[str, Any], addons: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Overrides in canonical form. One without `currency` takes the currency given on
    another override, else the plan's (the first, alphabetically, it prices in); a plan
    without prices has none to give: the currency is then required."""
    out = []
    currencies = {p["currency"] for p in plan_content.get("prices", [])}
    addon_ids = {a["addonId"] for a in addons}
    given = sorted({str(item["currency"]) for item in raw or [] if item.get("currency")})
    default = given[0] if given else (min(currencies) if currencies else None)
    for i, item in enumerate(raw or []):
        addon_id = item.get("addonId")
        if addon_id is not None and addon_id not in addon_ids:
            raise DomainError(
                ErrorCode.ADDON_NOT_FOUND,
                f"add-on {addon_id!r} is not on this subscription",
                ["priceOverrides", i, "addonId"],
            )
        if not item.get("currency") and default is None:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "currency is required: the plan has no prices to take it from",
                ["priceOverrides", i, "currency"],
            )
        currency = catalog_prices.check_currency(
            item.get("currency") or default, ["priceOverrides", i, "currency"]
        )
        if currencies and currency not in currencies:
            raise DomainError(
                ErrorCode.INVALID_CURRENCY,
                f"the plan is not priced in {currency}",
                ["priceOverrides", i, "currency"],
            )
        amount = catalog_prices.canonical_money(item.get("amount"), ["priceOverrides", i, "amount"])
        override = {"amount": amount, "currency": currency}
        if addon_id is not None:
            override["addonId"] = addon_id
        out.append(override)
    return out


def _flat_monthly(content: Mapping[str, Any]) -> Decimal | None:
    for price in content.get("prices", []):
        if price["model"] == "FLAT_FEE" and "amount" in price:
            amount = Decimal(price["amount"])
            return amount / 12 if price["billingPeriod"] == "ANNUALLY" else amount
    return None


def is_upgrade(current: Package, new: Package, view: CatalogView) -> bool:
    """Upgrade: the new plan descends from the current one, or costs more (flat monthly).
    Downgrade: the reverse. When nothing tells them apart, it counts as an upgrade (now)."""

    def ancestors(plan: Package) -> list[str]:
        chain: list[str] = []
        parent = view.latest(plan).get("parent")
        while parent is not None and parent not in chain and len(chain) < 32:
            chain.append(parent)
            parent = (
                view.latest(view.plans_by_id[parent]).get("parent")
                if parent in view.plans_by_id
                else None
            )
        return chain

    if current.id in ancestors(new):
        return True
    if new.id in ancestors(current):
        return False
    old_price, new_price = _flat_monthly(view.latest(current)), _flat_monthly(view.latest(new))
    if old_price is not None and new_price is not None:
        return new_price >= old_price
    return view.latest(new).get("pricingType") != "FREE"
