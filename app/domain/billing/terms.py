"""A subscription's *terms* for pricing, read from the catalog: its plan version's prices,
its add-ons' prices and quantities, the quantities of per-unit prices, and its price
overrides, as in force at an instant."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.billing.pricing import PricedAddon, Terms
from app.domain.checks.customer_entitlements import CatalogView
from app.domain.money import decimal_of
from app.models import Subscription
from app.store import catalog as catalog_store


def _limit_of(options: Mapping[str, Any] | None) -> tuple[bool, Decimal | None]:
    """(found, limit) of one entitlement's options; limit None = unlimited."""
    if options and options.get("unlimited"):
        return True, None
    if options and options.get("limit") is not None:
        return True, decimal_of(options["limit"])
    return False, None


def units_of(
    feature_id: str,
    values: Mapping[str, Any],
    content: Mapping[str, Any],
    view: CatalogView,
    ancestors: Sequence[Mapping[str, Any]] | None = None,
) -> tuple[bool, Decimal | None]:
    """A PER_UNIT price's quantity: the subscription's own value for the feature, else the
    plan's limit (the most generous of the plan and its ancestors; None = unlimited).
    Add-ons don't count: they are priced on their own."""
    found, limit = _limit_of(values.get(feature_id))
    if found:
        return found, limit
    limits: list[Decimal] = []
    if ancestors is None:  # not given: the ancestors at their latest versions
        ancestors = _latest_ancestors(content, view)
    for chain in (content, *ancestors):
        found, limit = _limit_of(chain.get("entitlements", {}).get(feature_id))
        if found and limit is None:
            return True, None
        if limit is not None:
            limits.append(limit)
    return (True, max(limits)) if limits else (False, None)


def _latest_ancestors(content: Mapping[str, Any], view: CatalogView) -> list[Mapping[str, Any]]:
    chain: list[Mapping[str, Any]] = []
    for _ in range(32):  # parent chains are acyclic (checked at publish): a safety net
        parent = view.plans_by_id.get(content.get("parent") or "")
        if parent is None:
            break
        content = view.latest(parent)
        chain.append(content)
    return chain


def terms_at(
    sub: Subscription, view: CatalogView, feature_names: Mapping[str, str], at: datetime
) -> Terms:
    """The subscription's terms in force at `at` (an end-of-period change counts from its
    effective date, written down by the job or not)."""
    plan_pk, version = sub.plan_pk, sub.plan_version
    addons, values, overrides = sub.addons, sub.entitlements, sub.price_overrides
    change = sub.scheduled_change
    if change is not None and datetime.fromisoformat(change["effectiveAt"]) <= at:
        plan = view.plans_by_id.get(change["planId"])
        if plan is not None:
            plan_pk, version = plan.pk, change["planVersion"]
            addons = change.get("addons", [])
            values = change.get("entitlements", {})
            overrides = change.get("priceOverrides", [])
    plan = view.plan_by_pk(plan_pk)
    content = view.content(plan_pk, version)
    prices = tuple(content.get("prices", []))
    units: dict[str, Decimal | None] = {}
    for price in prices:
        if price["model"] == "PER_UNIT":
            # The ancestors this plan version binds, as the entitlement engine counts them.
            ancestors = [c for _, c in view.ancestors(plan_pk, version)]
            found, limit = units_of(price["featureId"], values, content, view, ancestors)
            if found:
                units[price["featureId"]] = limit
    priced_addons = []
    for item in addons:
        addon = view.addons_by_id.get(item["addonId"])
        addon_content = view.content(addon.pk, item["version"]) if addon is not None else {}
        priced_addons.append(
            PricedAddon(
                addon_id=item["addonId"],
                name=addon.name if addon is not None else item["addonId"],
                quantity=int(item["quantity"]),
                prices=tuple(addon_content.get("prices", [])),
            )
        )
    return Terms(
        plan_id=plan.id,
        plan_name=plan.name,
        billing_period=sub.billing_period,
        prices=prices,
        addons=tuple(priced_addons),
        units=units,
        overrides=tuple(overrides),
        feature_names=feature_names,
    )


async def feature_names(session: AsyncSession, env: uuid.UUID) -> dict[str, str]:
    return {f.id: f.name for f in (await catalog_store.all_features(session, env)).values()}
