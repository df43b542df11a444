"""GraphQL inputs and payloads of the catalog mutations, and their conversion to the plain
dicts the domain checks (the same shape as a catalog document)."""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry

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
from app.errors import DomainError, ErrorCode
from app.schema.catalog_types import (
    Addon,
    Feature,
    Plan,
    Product,
)
from app.schema.common import DecimalScalar, UserError


def given(obj: Any, *names: str) -> dict[str, Any]:
    """The inputs the client actually sent (UNSET left out), as camelCase document keys."""
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, name)
        if value is strawberry.UNSET:
            continue
        parts = name.split("_")
        out[parts[0] + "".join(p.title() for p in parts[1:])] = plain(value)
    return out


def plain(value: Any) -> Any:
    """Inputs → plain JSON-like values (enums to their names, input objects to dicts)."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "__strawberry_definition__"):
        return given(value, *[f.python_name for f in value.__strawberry_definition__.fields])
    return value


@strawberry.input(description="A condition on an event dimension.")
class MeterFilterInput:
    dimension: str = strawberry.field(description="The event dimension compared.")
    operator: FilterOperator = strawberry.field(
        default=FilterOperator.IN, description="How it is compared."
    )
    values: list[str] = strawberry.field(description="The values compared with.")


@strawberry.input(description="How raw events feed a metered feature.")
class MeterInput:
    event_name: str = strawberry.field(description="Events of this name are aggregated.")
    aggregation: Aggregation = strawberry.field(
        default=Aggregation.COUNT, description="How they are aggregated."
    )
    field: str | None = strawberry.field(
        default=strawberry.UNSET, description="The dimension aggregated (not COUNT)."
    )
    filters: list[MeterFilterInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Events must match all of these."
    )


@strawberry.input(description="A new feature.")
class CreateFeatureInput:
    id: str = strawberry.field(description="The featureId.")
    type: FeatureType = strawberry.field(description="BOOLEAN, CONFIGURATION or METERED.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Display name.")
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="Longer description."
    )
    unit: str | None = strawberry.field(default=strawberry.UNSET, description="Metered unit.")
    unit_plural: str | None = strawberry.field(
        default=strawberry.UNSET, description="Plural of the unit."
    )
    value_type: ValueType | None = strawberry.field(
        default=strawberry.UNSET, description="Configuration value kind."
    )
    enum_values: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Allowed ENUM values."
    )
    meter: MeterInput | None = strawberry.field(
        default=strawberry.UNSET, description="Raw-event meter."
    )

    def to_dict(self) -> dict[str, Any]:
        return given(
            self,
            "id",
            "type",
            "name",
            "description",
            "unit",
            "unit_plural",
            "value_type",
            "enum_values",
            "meter",
        )


@strawberry.input(description="Changes to a feature; omitted fields keep their value.")
class UpdateFeatureInput:
    id: str = strawberry.field(description="The featureId.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Display name.")
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="Longer description."
    )
    unit: str | None = strawberry.field(default=strawberry.UNSET, description="Metered unit.")
    unit_plural: str | None = strawberry.field(
        default=strawberry.UNSET, description="Plural of the unit."
    )
    enum_values: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Allowed ENUM values."
    )
    meter: MeterInput | None = strawberry.field(
        default=strawberry.UNSET, description="Raw-event meter; null removes it."
    )

    def to_dict(self) -> dict[str, Any]:
        return given(self, "name", "description", "unit", "unit_plural", "enum_values", "meter")


@strawberry.input(description="Identifies a catalog entity by its id.")
class IdInput:
    id: str = strawberry.field(description="The entity's id.")


@strawberry.input(description="A new product.")
class CreateProductInput:
    id: str = strawberry.field(description="The productId.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Display name.")
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="Longer description."
    )
    multiple_subscriptions: bool | None = strawberry.field(
        default=strawberry.UNSET, description="One subscription per resourceId when true."
    )
    default_plan: str | None = strawberry.field(
        default=strawberry.UNSET, description="planId of the default plan."
    )
    downgrade_to_default_plan: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Fall back to the default plan when one ends."
    )

    def to_dict(self) -> dict[str, Any]:
        return given(
            self,
            "id",
            "name",
            "description",
            "multiple_subscriptions",
            "default_plan",
            "downgrade_to_default_plan",
        )


@strawberry.input(description="Changes to a product; omitted fields keep their value.")
class UpdateProductInput(CreateProductInput):
    pass


@strawberry.input(description="A plan's default trial.")
class TrialInput:
    days: int = strawberry.field(description="Length in days.")
    end_behavior: TrialEndBehavior = strawberry.field(
        default=TrialEndBehavior.CONVERT_TO_PAID, description="What happens at its end."
    )


@strawberry.input(description="A feature's configuration on a plan or add-on.")
class EntitlementInput:
    feature_id: str = strawberry.field(description="The feature granted.")
    limit: float | None = strawberry.field(
        default=strawberry.UNSET, description="Metered limit (>= 0)."
    )
    unlimited: bool | None = strawberry.field(default=strawberry.UNSET, description="No limit.")
    soft_limit: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Overage allowed."
    )
    reset_period: ResetPeriod | None = strawberry.field(
        default=strawberry.UNSET, description="When usage resets."
    )
    reset_anchor: ResetAnchor | None = strawberry.field(
        default=strawberry.UNSET, description="What resets count from."
    )
    value: float | None = strawberry.field(
        default=strawberry.UNSET, description="NUMBER configuration value."
    )
    enum_values: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="ENUM configuration values."
    )
    variable: bool | None = strawberry.field(
        default=strawberry.UNSET, description="CUSTOM plans: set per subscription."
    )
    behavior: AddonBehavior | None = strawberry.field(
        default=strawberry.UNSET, description="Add-ons only."
    )


def entitlements_dict(items: list[EntitlementInput]) -> dict[str, Any]:
    """The list keyed by featureId (the document form). A feature listed twice is refused
    rather than letting the last one silently win."""
    out: dict[str, Any] = {}
    for item in items:
        if item.feature_id in out:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"feature {item.feature_id!r} is listed twice",
                ["entitlements", item.feature_id],
            )
        options = given(
            item,
            "limit",
            "unlimited",
            "soft_limit",
            "reset_period",
            "reset_anchor",
            "value",
            "enum_values",
            "variable",
            "behavior",
        )
        out[item.feature_id] = {k: v for k, v in options.items() if v is not None}
    return out


@strawberry.input(description="One tier of a tiered price.")
class PriceTierInput:
    up_to: float | None = strawberry.field(
        default=strawberry.UNSET, description="Upper bound; omit on the last tier."
    )
    unit_amount: DecimalScalar | None = strawberry.field(
        default=strawberry.UNSET, description="Price per unit."
    )
    flat_amount: DecimalScalar | None = strawberry.field(
        default=strawberry.UNSET, description="Flat amount."
    )


@strawberry.input(description="A price of a plan or add-on.")
class PriceInput:
    currency: str = strawberry.field(description="ISO 4217 currency code.")
    model: PriceModel = strawberry.field(default=PriceModel.FLAT_FEE, description="Model.")
    billing_period: BillingPeriod = strawberry.field(
        default=BillingPeriod.MONTHLY, description="Charged per this period."
    )
    amount: DecimalScalar | None = strawberry.field(
        default=strawberry.UNSET, description="Amount (per unit)."
    )
    feature_id: str | None = strawberry.field(
        default=strawberry.UNSET, description="Metered feature (per unit/usage)."
    )
    tier_mode: TierMode | None = strawberry.field(
        default=strawberry.UNSET, description="VOLUME or GRADUATED."
    )
    tiers: list[PriceTierInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Tiers, ascending."
    )


def prices_list(items: list[PriceInput]) -> list[dict[str, Any]]:
    return [{k: v for k, v in plain(p).items() if v is not None} for p in items]


def _package_content(obj: Any) -> dict[str, Any]:
    out = given(
        obj,
        *[
            n
            for n in (
                "name",
                "description",
                "parent_plan_id",
                "pricing_type",
                "default_trial",
                "max_quantity",
                "compatible_plan_ids",
            )
            if hasattr(obj, n)
        ],
    )
    renames = {
        "parentPlanId": "parent",
        "defaultTrial": "trial",
        "compatiblePlanIds": "compatiblePlans",
    }
    # null for a setting that always has a value means "keep it", like omitting it.
    out = {
        renames.get(k, k): v
        for k, v in out.items()
        if not (v is None and k in ("pricingType", "maxQuantity"))
    }
    if getattr(obj, "entitlements", strawberry.UNSET) not in (strawberry.UNSET, None):
        out["entitlements"] = entitlements_dict(obj.entitlements)
    if getattr(obj, "prices", strawberry.UNSET) not in (strawberry.UNSET, None):
        out["prices"] = prices_list(obj.prices)
    return out


@strawberry.input(description="Changes to a plan's draft; omitted fields keep their value.")
class UpdatePlanInput:
    id: str = strawberry.field(description="The planId.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Display name.")
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="Longer description."
    )
    parent_plan_id: str | None = strawberry.field(
        default=strawberry.UNSET, description="Parent plan; null removes it."
    )
    pricing_type: PricingType | None = strawberry.field(
        default=strawberry.UNSET, description="FREE, PAID or CUSTOM."
    )
    default_trial: TrialInput | None = strawberry.field(
        default=strawberry.UNSET, description="Trial; null removes it."
    )
    entitlements: list[EntitlementInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the entitlement list."
    )
    prices: list[PriceInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the prices."
    )

    def to_dict(self) -> dict[str, Any]:
        return _package_content(self)


@strawberry.input(description="A new plan (created as a draft; publish it, or pass publish).")
class CreatePlanInput(UpdatePlanInput):
    product_id: str = strawberry.field(default="", description="The product it belongs to.")
    publish: bool = strawberry.field(default=False, description="Publish version 1 at once.")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "productId": self.product_id, **_package_content(self)}


@strawberry.input(description="Changes to an add-on's draft; omitted fields keep their value.")
class UpdateAddonInput:
    id: str = strawberry.field(description="The addonId.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Display name.")
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="Longer description."
    )
    max_quantity: int | None = strawberry.field(
        default=strawberry.UNSET, description="Most a subscription may hold."
    )
    compatible_plan_ids: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Plans it may be added to."
    )
    entitlements: list[EntitlementInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the entitlement list."
    )
    prices: list[PriceInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the prices."
    )

    def to_dict(self) -> dict[str, Any]:
        return _package_content(self)


@strawberry.input(description="A new add-on (created as a draft; publish it, or pass publish).")
class CreateAddonInput(UpdateAddonInput):
    product_id: str = strawberry.field(default="", description="The product it belongs to.")
    publish: bool = strawberry.field(default=False, description="Publish version 1 at once.")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "productId": self.product_id, **_package_content(self)}


@strawberry.input(description="Publish a draft as the next version.")
class PublishInput:
    id: str = strawberry.field(description="The planId or addonId.")
    migrate_existing_subscriptions: bool = strawberry.field(
        default=False, description="Move existing subscriptions to the new version."
    )


@strawberry.type(description="Result of a feature mutation.")
class FeaturePayload:
    feature: Feature | None = strawberry.field(description="The feature, if it succeeded.")
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type(description="Result of a product mutation.")
class ProductPayload:
    product: Product | None = strawberry.field(description="The product, if it succeeded.")
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type(description="Result of a plan mutation.")
class PlanPayload:
    plan: Plan | None = strawberry.field(description="The plan, if it succeeded.")
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type(description="Result of an add-on mutation.")
class AddonPayload:
    addon: Addon | None = strawberry.field(description="The add-on, if it succeeded.")
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")
