"""GraphQL shape of an entitlement check (API.md: `Entitlement`, `EntitlementSource`)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from app.domain.checks.answers import CheckResult
from app.domain.entitlement_sources import DenyReason, FeatureType, Source, SourceKind
from app.domain.periods import ResetPeriod
from app.schema.catalog_types import Feature, feature_view
from app.schema.context import Context

# The domain's enums, defined there once and exposed here under the same names.
strawberry.enum(DenyReason, name="DenyReason", description="Why access was denied.")
strawberry.enum(SourceKind, name="SourceKind", description="Where an entitlement comes from.")


@strawberry.type(description="One source of a customer's entitlement and its own value.")
class EntitlementSource:
    kind: SourceKind = strawberry.field(description="PLAN, BASE_PLAN, ADDON, … PROMOTIONAL.")
    subscription_id: str | None = strawberry.field(description="The subscription it comes from.")
    plan_id: str | None = strawberry.field(description="The plan (or ancestor plan).")
    addon_id: str | None = strawberry.field(description="The add-on.")
    quantity: int | None = strawberry.field(description="Add-on quantity.")
    usage_limit: float | None = strawberry.field(
        description="This source's limit (an INCREMENT add-on: its limit x quantity)."
    )
    is_unlimited: bool = strawberry.field(description="This source is unlimited.")
    is_soft_limit: bool = strawberry.field(description="This source's limit is soft.")
    value: float | None = strawberry.field(description="This source's configuration value.")
    enum_values: list[str] | None = strawberry.field(description="This source's enum values.")
    is_trial: bool = strawberry.field(description="It comes from a subscription in trial.")
    is_effective: bool = strawberry.field(description="This source decided the answer.")


def source_view(source: Source) -> EntitlementSource:
    return EntitlementSource(
        kind=SourceKind(source.kind.value),
        subscription_id=source.subscription_id,
        plan_id=source.plan_id,
        addon_id=source.addon_id,
        quantity=source.quantity,
        usage_limit=source.usage_limit,
        is_unlimited=source.is_unlimited,
        is_soft_limit=source.is_soft_limit,
        value=source.value,
        enum_values=list(source.enum_values) if source.enum_values is not None else None,
        is_trial=source.is_trial,
        is_effective=source.is_effective,
    )


@strawberry.type(description="May the customer use the feature, how much, and why.")
class Entitlement:
    feature_id: str = strawberry.field(description="The feature asked about.")
    has_access: bool = strawberry.field(description="Whether the customer may use it now.")
    deny_reason: DenyReason | None = strawberry.field(description="Why not, when denied.")
    is_unlimited: bool = strawberry.field(description="No usage limit.")
    is_soft_limit: bool = strawberry.field(description="Usage may exceed the limit.")
    usage_limit: float | None = strawberry.field(description="The effective limit.")
    current_usage: float | None = strawberry.field(description="Usage in the current period.")
    requested_usage: float | None = strawberry.field(description="The usage asked for.")
    remaining: float | None = strawberry.field(description="Limit minus usage, at least 0.")
    value: float | None = strawberry.field(description="Configuration value (largest).")
    enum_values: list[str] | None = strawberry.field(description="Allowed enum values (union).")
    reset_period: ResetPeriod | None = strawberry.field(description="When usage resets.")
    usage_period_start: datetime | None = strawberry.field(
        description="Start of the current usage period."
    )
    usage_period_end: datetime | None = strawberry.field(
        description="End of the current usage period (= the next reset)."
    )
    sources: list[EntitlementSource] = strawberry.field(
        description="Every source, with the one(s) that decided marked isEffective."
    )
    feature_type: FeatureType | None = strawberry.field(
        default=None,
        description="The feature's type (null when the feature, or the customer, does not "
        "exist).",
    )

    @strawberry.field(description="The feature, when it exists.")
    async def feature(self, info: Info[Context, None]) -> Feature | None:
        row = await info.context.loaders.feature_by_id.load(self.feature_id)
        if row is None or (row.archived_at is not None and not info.context.principal.is_server):
            return None  # client keys never see archived catalog items (docs/security.md)
        return feature_view(row)


def entitlement_view(result: CheckResult) -> Entitlement:
    check, period = result.check, result.period
    metered = check.feature_type is not None and check.feature_type.value == "METERED"
    return Entitlement(
        feature_id=check.feature_id,
        has_access=check.has_access,
        deny_reason=DenyReason(check.deny_reason.value) if check.deny_reason else None,
        is_unlimited=check.is_unlimited,
        is_soft_limit=check.is_soft_limit,
        usage_limit=check.usage_limit,
        current_usage=check.current_usage if metered else None,
        requested_usage=check.requested_usage,
        remaining=check.remaining,
        value=check.value,
        enum_values=list(check.enum_values) if check.enum_values is not None else None,
        reset_period=ResetPeriod(check.reset_period) if check.reset_period else None,
        usage_period_start=period.start if period else None,
        usage_period_end=period.end if period else None,
        sources=[source_view(s) for s in check.sources],
        feature_type=FeatureType(check.feature_type.value) if check.feature_type else None,
    )
