"""GraphQL types of the catalog: features, products, plans, add-ons, entitlements, prices."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.catalog.choices import (
    Aggregation,
    FilterOperator,
    PriceModel,
    PricingType,
    TierMode,
    TrialEndBehavior,
    ValueType,
)
from app.domain.entitlement_sources import AddonBehavior, FeatureType
from app.domain.periods import BillingPeriod, ResetAnchor, ResetPeriod
from app.models import Feature as FeatureRow
from app.models import Package, PackageVersion
from app.models import Product as ProductRow
from app.schema.common import DecimalScalar
from app.store import catalog as store

# The domain's enums, defined there once and exposed here under the same names.
strawberry.enum(FeatureType, name="FeatureType", description="How a feature is monetized.")
strawberry.enum(
    ResetPeriod, name="ResetPeriod", description="How often metered usage starts again from zero."
)
strawberry.enum(ResetAnchor, name="ResetAnchor", description="What usage periods are counted from.")
strawberry.enum(
    AddonBehavior,
    name="AddonBehavior",
    description="How an add-on entitlement combines with the plan's value.",
)
strawberry.enum(
    BillingPeriod, name="BillingPeriod", description="The period a price is charged for."
)
strawberry.enum(
    ValueType, name="ValueType", description="The kind of value of a CONFIGURATION feature."
)
strawberry.enum(
    Aggregation, name="Aggregation", description="How a meter turns raw events into usage."
)
strawberry.enum(
    FilterOperator,
    name="FilterOperator",
    description="How a meter filter compares an event dimension.",
)
strawberry.enum(
    PricingType,
    name="PricingType",
    description="Whether a plan is free, paid, or negotiated per customer.",
)
strawberry.enum(
    TrialEndBehavior, name="TrialEndBehavior", description="What happens when a trial ends."
)
strawberry.enum(
    TierMode,
    name="TierMode",
    description="How tiers apply: all units at one tier's rate, or tier by tier.",
)
strawberry.enum(PriceModel, name="PriceModel", description="How a price is charged.")


@strawberry.type(description="A condition on an event dimension for a meter.")
class MeterFilter:
    dimension: str = strawberry.field(description="The event dimension compared.")
    operator: FilterOperator = strawberry.field(description="How it is compared.")
    values: list[str] = strawberry.field(description="The values compared with.")


@strawberry.type(description="How raw events feed a metered feature.")
class Meter:
    event_name: str = strawberry.field(description="Events of this name are aggregated.")
    aggregation: Aggregation = strawberry.field(description="How they are aggregated.")
    field: str | None = strawberry.field(description="The event dimension aggregated.")
    filters: list[MeterFilter] = strawberry.field(description="Events must match all of these.")


@strawberry.type(description="Something that can be monetized: boolean, configuration or metered.")
class Feature:
    id: str = strawberry.field(description="The feature's id (featureId), unique per environment.")
    name: str = strawberry.field(description="Display name.")
    description: str = strawberry.field(description="Longer description.")
    type: FeatureType = strawberry.field(description="BOOLEAN, CONFIGURATION or METERED.")
    unit: str | None = strawberry.field(description="Unit of a metered feature (e.g. seat).")
    unit_plural: str | None = strawberry.field(description="Plural of the unit.")
    value_type: ValueType | None = strawberry.field(description="Configuration value kind.")
    enum_values: list[str] | None = strawberry.field(description="Allowed values of ENUM.")
    meter: Meter | None = strawberry.field(description="Set when usage comes from raw events.")
    is_archived: bool = strawberry.field(description="Archived features cannot be granted.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")


def feature_view(row: FeatureRow) -> Feature:
    meter = None
    if row.meter:
        meter = Meter(
            event_name=row.meter["eventName"],
            aggregation=Aggregation(row.meter["aggregation"]),
            field=row.meter.get("field"),
            filters=[
                MeterFilter(
                    dimension=f["dimension"],
                    operator=FilterOperator(f["operator"]),
                    values=list(f["values"]),
                )
                for f in row.meter.get("filters", [])
            ],
        )
    return Feature(
        id=row.id,
        name=row.name,
        description=row.description,
        type=FeatureType(row.type),
        unit=row.unit,
        unit_plural=row.unit_plural,
        value_type=ValueType(row.value_type) if row.value_type else None,
        enum_values=row.enum_values,
        meter=meter,
        is_archived=row.archived_at is not None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@strawberry.type(description="A feature's configuration on a plan or add-on.")
class PackageEntitlement:
    feature_id: str = strawberry.field(description="The feature granted.")
    usage_limit: float | None = strawberry.field(description="Limit of a metered feature.")
    is_unlimited: bool = strawberry.field(description="No limit at all.")
    is_soft_limit: bool = strawberry.field(description="Soft: overage allowed, only reported.")
    reset_period: ResetPeriod | None = strawberry.field(description="When usage resets.")
    reset_anchor: ResetAnchor | None = strawberry.field(description="What resets count from.")
    value: float | None = strawberry.field(description="Value of a NUMBER configuration.")
    enum_values: list[str] | None = strawberry.field(description="Values of an ENUM config.")
    is_variable: bool = strawberry.field(description="Value given per subscription (CUSTOM).")
    behavior: AddonBehavior | None = strawberry.field(description="Add-ons: INCREMENT/OVERRIDE.")


def _float(value: float | None) -> float | None:
    """JSONB gives whole numbers back as ints; GraphQL Float wants floats."""
    return None if value is None else float(value)


def entitlement_view(feature_id: str, data: dict[str, Any], on_addon: bool) -> PackageEntitlement:
    period = data.get("resetPeriod")
    return PackageEntitlement(
        feature_id=feature_id,
        usage_limit=_float(data.get("limit")),
        is_unlimited=bool(data.get("unlimited")),
        is_soft_limit=bool(data.get("softLimit")),
        reset_period=ResetPeriod(period) if period else None,
        reset_anchor=ResetAnchor(data.get("resetAnchor", "SUBSCRIPTION_START")) if period else None,
        value=_float(data.get("value")),
        enum_values=data.get("enumValues"),
        is_variable=bool(data.get("variable")),
        behavior=AddonBehavior(data.get("behavior", "INCREMENT")) if on_addon else None,
    )


@strawberry.type(description="One tier of a tiered price.")
class PriceTier:
    up_to: float | None = strawberry.field(description="Upper bound (inclusive); null = no end.")
    unit_amount: DecimalScalar | None = strawberry.field(description="Price per unit in tier.")
    flat_amount: DecimalScalar | None = strawberry.field(description="Flat amount for the tier.")


@strawberry.type(description="A price of a plan or add-on.")
class Price:
    model: PriceModel = strawberry.field(description="FLAT_FEE, PER_UNIT or USAGE_BASED.")
    billing_period: BillingPeriod = strawberry.field(description="MONTHLY or ANNUALLY.")
    amount: DecimalScalar | None = strawberry.field(description="Amount (per unit if PER_UNIT).")
    currency: str = strawberry.field(description="ISO 4217 currency code.")
    feature_id: str | None = strawberry.field(description="Metered feature priced per unit.")
    tier_mode: TierMode | None = strawberry.field(description="VOLUME or GRADUATED tiers.")
    tiers: list[PriceTier] | None = strawberry.field(description="Tiers, ascending.")


def _money(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def price_view(data: dict[str, Any]) -> Price:
    tiers = data.get("tiers")
    return Price(
        model=PriceModel(data["model"]),
        billing_period=BillingPeriod(data["billingPeriod"]),
        amount=_money(data.get("amount")),
        currency=data["currency"],
        feature_id=data.get("featureId"),
        tier_mode=TierMode(data["tierMode"]) if data.get("tierMode") else None,
        tiers=None
        if tiers is None
        else [
            PriceTier(
                up_to=_float(t.get("upTo")),
                unit_amount=_money(t.get("unitAmount")),
                flat_amount=_money(t.get("flatAmount")),
            )
            for t in tiers
        ],
    )


@strawberry.type(description="A plan's default trial.")
class Trial:
    days: int = strawberry.field(description="Length in days.")
    end_behavior: TrialEndBehavior = strawberry.field(description="Convert to paid, or cancel.")


@strawberry.type(
    name="PackageVersion",
    description="A version of a plan or add-on. Published versions never change.",
)
class PackageVersionType:
    version: int | None = strawberry.field(description="Version number; null for the draft.")
    is_draft: bool = strawberry.field(description="True for the editable draft.")
    name: str = strawberry.field(description="Display name of this version.")
    description: str = strawberry.field(description="Longer description of this version.")
    published_at: datetime | None = strawberry.field(description="When it was published.")
    migrate_existing_subscriptions: bool = strawberry.field(
        description="Whether publishing moved existing subscriptions to this version."
    )
    parent_plan_id: str | None = strawberry.field(description="Plans: the parent plan.")
    parent_plan_version: int | None = strawberry.field(
        description="Plans: the version of the parent plan this version includes (bound when "
        "it was published; null for the draft, or when the parent had no published version)."
    )
    pricing_type: PricingType | None = strawberry.field(description="Plans: FREE/PAID/CUSTOM.")
    default_trial: Trial | None = strawberry.field(description="Plans: the default trial.")
    max_quantity: int | None = strawberry.field(description="Add-ons: the maximum quantity.")
    compatible_plan_ids: list[str] | None = strawberry.field(
        description="Add-ons: plans it may be added to."
    )
    entitlements: list[PackageEntitlement] = strawberry.field(description="What it grants.")
    prices: list[Price] = strawberry.field(description="What it costs.")


def version_view(version: PackageVersion, kind: str) -> PackageVersionType:
    content = version.content
    on_addon = kind == "ADDON"
    trial = content.get("trial")
    return PackageVersionType(
        version=version.version,
        is_draft=version.version is None,
        name=version.name,
        description=version.description,
        published_at=version.published_at,
        migrate_existing_subscriptions=version.migrate_existing,
        parent_plan_id=content.get("parent"),
        parent_plan_version=version.parent_version if version.version is not None else None,
        pricing_type=PricingType(content["pricingType"]) if "pricingType" in content else None,
        default_trial=Trial(days=trial["days"], end_behavior=TrialEndBehavior(trial["endBehavior"]))
        if trial
        else None,
        max_quantity=content.get("maxQuantity"),
        compatible_plan_ids=content.get("compatiblePlans", []) if on_addon else None,
        # By featureId: JSONB does not keep the order keys were written in.
        entitlements=[
            entitlement_view(fid, e, on_addon)
            for fid, e in sorted(content.get("entitlements", {}).items())
        ],
        prices=[price_view(p) for p in content.get("prices", [])],
    )


def _shown(versions: list[PackageVersion]) -> PackageVersion:
    """What the package's own fields show: the latest published version, else the draft."""
    published = [v for v in versions if v.version is not None]
    return published[0] if published else versions[0]


@strawberry.type(description="A plan: entitlements and prices a customer subscribes to.")
class Plan:
    id: str = strawberry.field(description="The plan's id (planId).")
    name: str = strawberry.field(description="Display name.")
    description: str = strawberry.field(description="Longer description.")
    product_id: str = strawberry.field(description="The product it belongs to.")
    version: int | None = strawberry.field(description="Latest published version; null if none.")
    has_draft: bool = strawberry.field(description="True when unpublished edits exist.")
    is_archived: bool = strawberry.field(description="Archived plans take no new subscriptions.")
    parent_plan_id: str | None = strawberry.field(description="Parent plan (included wholly).")
    parent_plan_version: int | None = strawberry.field(
        description="The version of the parent plan the latest version includes."
    )
    pricing_type: PricingType = strawberry.field(description="FREE, PAID or CUSTOM.")
    default_trial: Trial | None = strawberry.field(description="Trial given by default.")
    entitlements: list[PackageEntitlement] = strawberry.field(
        description="Entitlements of the latest published version (the draft if none)."
    )
    prices: list[Price] = strawberry.field(description="Prices of that version.")
    draft: PackageVersionType | None = strawberry.field(
        description="The unpublished draft (always null for client keys)."
    )
    versions: list[PackageVersionType] = strawberry.field(
        description="Published versions, newest first (client keys: the latest only)."
    )


@strawberry.type(description="An add-on: extends compatible plans, bought in a quantity.")
class Addon:
    id: str = strawberry.field(description="The add-on's id (addonId).")
    name: str = strawberry.field(description="Display name.")
    description: str = strawberry.field(description="Longer description.")
    product_id: str = strawberry.field(description="The product it belongs to.")
    version: int | None = strawberry.field(description="Latest published version; null if none.")
    has_draft: bool = strawberry.field(description="True when unpublished edits exist.")
    is_archived: bool = strawberry.field(description="Archived add-ons cannot be added.")
    max_quantity: int = strawberry.field(description="Most a subscription may hold.")
    compatible_plan_ids: list[str] = strawberry.field(description="Plans it may be added to.")
    entitlements: list[PackageEntitlement] = strawberry.field(
        description="Entitlements of the latest published version (the draft if none)."
    )
    prices: list[Price] = strawberry.field(description="Prices of that version.")
    draft: PackageVersionType | None = strawberry.field(
        description="The unpublished draft (always null for client keys)."
    )
    versions: list[PackageVersionType] = strawberry.field(
        description="Published versions, newest first (client keys: the latest only)."
    )


def package_view(package: Package, product_id: str, versions: list[PackageVersion]) -> Any:
    shown = version_view(_shown(versions), package.kind)
    draft = next((v for v in versions if v.version is None), None)
    common: dict[str, Any] = dict(
        id=package.id,
        name=package.name,
        description=package.description,
        product_id=product_id,
        version=package.latest_version,
        has_draft=draft is not None,
        is_archived=package.archived_at is not None,
        entitlements=shown.entitlements,
        prices=shown.prices,
        draft=version_view(draft, package.kind) if draft else None,
        versions=[version_view(v, package.kind) for v in versions if v.version is not None],
    )
    if package.kind == "PLAN":
        return Plan(
            parent_plan_id=shown.parent_plan_id,
            parent_plan_version=shown.parent_plan_version,
            pricing_type=shown.pricing_type or PricingType.PAID,
            default_trial=shown.default_trial,
            **common,
        )
    return Addon(
        max_quantity=shown.max_quantity or 1,
        compatible_plan_ids=shown.compatible_plan_ids or [],
        **common,
    )


def published_package_view(view: Any, visible_plan_ids: set[str]) -> Any:
    """What a client (publishable) key sees of a published plan or add-on: its latest version
    only (no draft, no older versions), naming no plan it may not see (docs/security.md)."""
    latest = view.versions[:1]
    if latest and latest[0].parent_plan_id not in visible_plan_ids | {None}:
        latest = [dataclasses.replace(latest[0], parent_plan_id=None, parent_plan_version=None)]
    if latest and latest[0].compatible_plan_ids is not None:
        compatible = [p for p in latest[0].compatible_plan_ids if p in visible_plan_ids]
        latest = [dataclasses.replace(latest[0], compatible_plan_ids=compatible)]
    changes: dict[str, Any] = dict(has_draft=False, draft=None, versions=latest)
    if isinstance(view, Plan) and view.parent_plan_id not in visible_plan_ids | {None}:
        changes.update(parent_plan_id=None, parent_plan_version=None)
    if isinstance(view, Addon):
        changes["compatible_plan_ids"] = [
            p for p in view.compatible_plan_ids if p in visible_plan_ids
        ]
    return dataclasses.replace(view, **changes)


@strawberry.type(description="A product line, with its plans and add-ons.")
class Product:
    id: str = strawberry.field(description="The product's id (productId).")
    name: str = strawberry.field(description="Display name.")
    description: str = strawberry.field(description="Longer description.")
    multiple_subscriptions: bool = strawberry.field(
        description="Whether a customer may hold several subscriptions (one per resourceId)."
    )
    default_plan_id: str | None = strawberry.field(
        description="Plan given to customers provisioned without a subscription."
    )
    downgrade_to_default_plan: bool = strawberry.field(
        description="Whether customers fall back to the default plan when a subscription ends."
    )
    is_archived: bool = strawberry.field(description="Archived products take no subscriptions.")
    created_at: datetime = strawberry.field(description="When it was created.")


def product_view(row: ProductRow, visible_plan_ids: set[str] | None = None) -> Product:
    """`visible_plan_ids`: for a client key, the plans it may see (the default plan is shown
    only if it is one of them); None for a server key."""
    default_plan = row.default_plan_id
    if visible_plan_ids is not None and default_plan not in visible_plan_ids:
        default_plan = None
    return Product(
        id=row.id,
        name=row.name,
        description=row.description,
        multiple_subscriptions=row.multiple_subscriptions,
        default_plan_id=default_plan,
        downgrade_to_default_plan=row.downgrade_to_default,
        is_archived=row.archived_at is not None,
        created_at=row.created_at,
    )


async def package_views(
    session: AsyncSession, env: Any, packages: list[Package], published_only: bool = False
) -> list[Any]:
    """GraphQL objects for packages, loading their versions and products in two queries
    (`published_only`: as a client key sees them, docs/security.md)."""
    versions = await store.versions_by_package_pks(session, [p.pk for p in packages])
    products = await store.products_by_pks(session, env, list({p.product_pk for p in packages}))
    views = [package_view(p, products[p.product_pk].id, versions.get(p.pk, [])) for p in packages]
    if not published_only:
        return views
    visible = await store.published_plan_ids(session, env)
    return [published_package_view(v, visible) for v in views]


async def package_view_of(session: AsyncSession, env: Any, package: Package) -> Any:
    return (await package_views(session, env, [package]))[0]
