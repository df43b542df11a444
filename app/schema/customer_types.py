"""GraphQL types of customers, subscriptions and promotional entitlements. Nested fields
resolve through the request's dataloaders, so lists cost a fixed number of queries."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from app.domain.catalog.choices import TrialEndBehavior
from app.domain.periods import BillingPeriod
from app.domain.subscriptions.dates import (
    BillingMode,
    Dates,
    SubscriptionStatus,
    change_due,
    current_period,
    status_at,
)
from app.models import Customer as CustomerRow
from app.models import PromotionalEntitlement as PromotionRow
from app.models import Subscription as SubscriptionRow
from app.schema.catalog_types import (
    Addon,
    PackageEntitlement,
    Plan,
    entitlement_view,
)
from app.schema.common import json_value
from app.schema.context import Context
from app.schema.entitlement_types import Entitlement
from app.schema.entitlement_types import entitlement_view as check_view

if TYPE_CHECKING:
    from app.schema.billing_types import Invoice


# The domain's enums, defined there once and exposed here under the same names.
strawberry.enum(
    BillingMode,
    name="BillingMode",
    description="EXTERNAL: billed elsewhere; INVOICE: allot issues invoices.",
)
strawberry.enum(
    SubscriptionStatus,
    name="SubscriptionStatus",
    description="Where a subscription is in its life.",
)


@strawberry.type(description="An add-on on a subscription.")
class SubscriptionAddon:
    addon_id: str = strawberry.field(description="The add-on's id.")
    quantity: int = strawberry.field(description="How many.")
    version: int = strawberry.field(description="The add-on version it is pinned to.")

    @strawberry.field(description="The add-on.")
    async def addon(self, info: Info[Context, None]) -> Addon | None:
        return await info.context.loaders.package_view.load(("ADDON", self.addon_id))  # type: ignore[no-any-return]


@strawberry.type(description="A negotiated price replacing the plan's or an add-on's charge.")
class PriceOverride:
    addon_id: str | None = strawberry.field(description="The add-on; null = plan base charge.")
    amount: Decimal = strawberry.field(description="The amount per billing period.")
    currency: str = strawberry.field(description="ISO 4217 currency code.")


@strawberry.type(description="A plan change that takes effect at the end of the period.")
class ScheduledChange:
    plan_id: str = strawberry.field(description="The plan it changes to.")
    plan_version: int = strawberry.field(description="The plan version it changes to.")
    effective_at: datetime = strawberry.field(description="When it takes effect.")


@strawberry.type(description="A customer's subscription to a plan version.")
class CustomerSubscription:
    id: str = strawberry.field(description="The subscriptionId.")
    customer_id: str = strawberry.field(description="The customer's id.")
    plan_id: str = strawberry.field(description="The plan's id.")
    plan_version: int = strawberry.field(description="The plan version it is pinned to.")
    resource_id: str | None = strawberry.field(description="The resource (multi-sub products).")
    status: SubscriptionStatus = strawberry.field(description="Status at this instant.")
    billing_period: BillingPeriod = strawberry.field(description="MONTHLY or ANNUALLY.")
    start_date: datetime = strawberry.field(description="When it starts (or started).")
    end_date: datetime | None = strawberry.field(description="When it ends (or ended).")
    trial_end_date: datetime | None = strawberry.field(description="When its trial ends.")
    trial_end_behavior: TrialEndBehavior | None = strawberry.field(
        description="What happens at the trial's end."
    )
    is_parallel_trial: bool = strawberry.field(
        description="A trial running beside a paid subscription of the same product."
    )
    current_period_start: datetime | None = strawberry.field(
        description="Start of the current billing period (the trial while in trial)."
    )
    current_period_end: datetime | None = strawberry.field(
        description="End of the current billing period."
    )
    addons: list[SubscriptionAddon] = strawberry.field(description="Add-ons and quantities.")
    price_overrides: list[PriceOverride] = strawberry.field(description="Negotiated prices.")
    entitlements: list[PackageEntitlement] = strawberry.field(
        description="Per-subscription entitlement values."
    )
    scheduled_change: ScheduledChange | None = strawberry.field(
        description="A pending end-of-period plan change."
    )
    billing_mode: BillingMode = strawberry.field(description="EXTERNAL or INVOICE.")
    payment_terms_days: int | None = strawberry.field(description="Invoice payment terms.")
    metadata: JSON | None = strawberry.field(description="Your own data.")
    canceled_at: datetime | None = strawberry.field(description="When it was canceled.")
    created_at: datetime = strawberry.field(description="When it was created.")
    customer_pk: strawberry.Private[Any]

    @strawberry.field(description="The customer.")
    async def customer(self, info: Info[Context, None]) -> Customer | None:
        row = await info.context.loaders.customer_by_pk.load(self.customer_pk)
        return None if row is None else customer_view(row)

    @strawberry.field(description="The plan.")
    async def plan(self, info: Info[Context, None]) -> Plan | None:
        return await info.context.loaders.package_view.load(("PLAN", self.plan_id))  # type: ignore[no-any-return]

    @strawberry.field(description="Its invoices, newest first (billing mode INVOICE).")
    async def invoices(
        self, info: Info[Context, None]
    ) -> list[Annotated[Invoice, strawberry.lazy("app.schema.billing_types")]]:
        return await info.context.loaders.invoices_by_subscription_id.load(self.id)  # type: ignore[no-any-return]


def subscription_view(
    row: SubscriptionRow, plan_id: str, customer_id: str, now: datetime
) -> CustomerSubscription:
    dates = Dates.of(row)
    period = current_period(dates, now)
    change = row.scheduled_change
    version, addons = row.plan_version, row.addons
    values, overrides = row.entitlements, row.price_overrides
    if change is not None and change_due(dates, now):
        # In force already (checks use it); the job has not written it down yet.
        plan_id, version = change["planId"], change["planVersion"]
        addons = change.get("addons", [])
        values = change.get("entitlements", {})
        overrides = change.get("priceOverrides", [])
        change = None
    return CustomerSubscription(
        id=row.id,
        customer_id=customer_id,
        plan_id=plan_id,
        plan_version=version,
        resource_id=row.resource_id,
        status=SubscriptionStatus(status_at(dates, now).value),
        billing_period=BillingPeriod(row.billing_period),
        start_date=row.start_date,
        end_date=row.end_date,
        trial_end_date=row.trial_end_date,
        trial_end_behavior=TrialEndBehavior(row.trial_end_behavior)
        if row.trial_end_behavior
        else None,
        is_parallel_trial=row.is_parallel_trial,
        current_period_start=period.start if period else None,
        current_period_end=period.end if period else None,
        addons=[
            SubscriptionAddon(addon_id=a["addonId"], quantity=a["quantity"], version=a["version"])
            for a in addons
        ],
        price_overrides=[
            PriceOverride(
                addon_id=o.get("addonId"), amount=Decimal(o["amount"]), currency=o["currency"]
            )
            for o in overrides
        ],
        entitlements=[entitlement_view(fid, e, False) for fid, e in values.items()],
        scheduled_change=ScheduledChange(
            plan_id=change["planId"],
            plan_version=change["planVersion"],
            effective_at=datetime.fromisoformat(change["effectiveAt"]),
        )
        if change
        else None,
        billing_mode=BillingMode(row.billing_mode),
        payment_terms_days=row.payment_terms_days,
        metadata=json_value(row.metadata_),
        canceled_at=row.canceled_at,
        created_at=row.created_at,
        customer_pk=row.customer_pk,
    )


@strawberry.type(description="An entitlement granted straight to a customer for a while.")
class PromotionalEntitlement:
    feature_id: str = strawberry.field(description="The feature granted.")
    entitlement: PackageEntitlement = strawberry.field(description="What is granted.")
    duration: str | None = strawberry.field(description="ONE_WEEK … LIFETIME, when given.")
    starts_at: datetime = strawberry.field(description="When it started.")
    ends_at: datetime | None = strawberry.field(description="When it ends; null = lifetime.")


def promotion_view(row: PromotionRow) -> PromotionalEntitlement:
    return PromotionalEntitlement(
        feature_id=row.feature_id,
        entitlement=entitlement_view(row.feature_id, row.config, False),
        duration=row.duration,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
    )


@strawberry.type(description="A customer of the account, identified by the account's own id.")
class Customer:
    id: str = strawberry.field(description="The customerId.")
    name: str | None = strawberry.field(description="Display name.")
    email: str | None = strawberry.field(description="Email address.")
    metadata: JSON | None = strawberry.field(description="Your own data.")
    billing_details: CustomerBillingDetails | None = strawberry.field(
        description="Who its invoices are addressed to (null: the name and email only)."
    )
    is_archived: bool = strawberry.field(description="Archived customers are denied everything.")
    created_at: datetime = strawberry.field(description="When it was created.")
    pk: strawberry.Private[Any]

    @strawberry.field(description="Subscriptions, oldest first (ended ones included).")
    async def subscriptions(self, info: Info[Context, None]) -> list[CustomerSubscription]:
        return await info.context.loaders.subscriptions_by_customer.load(self.pk)  # type: ignore[no-any-return]

    @strawberry.field(description="Live promotional entitlements.")
    async def promotional_entitlements(
        self, info: Info[Context, None]
    ) -> list[PromotionalEntitlement]:
        rows = await info.context.loaders.promotions_by_customer.load(self.pk)
        return [promotion_view(r) for r in rows]

    @strawberry.field(description="Effective entitlements: every feature granted by a source.")
    async def entitlements(self, info: Info[Context, None]) -> list[Entitlement]:
        results = await info.context.loaders.entitlements_by_customer.load(self.pk)
        return [check_view(r) for r in results]

    @strawberry.field(description="Invoices of all its subscriptions, newest first.")
    async def invoices(
        self, info: Info[Context, None]
    ) -> list[Annotated[Invoice, strawberry.lazy("app.schema.billing_types")]]:
        return await info.context.loaders.invoices_by_customer.load(self.pk)  # type: ignore[no-any-return]


@strawberry.type(description="Who a customer's invoices are addressed to.")
class CustomerBillingDetails:
    legal_name: str | None = strawberry.field(description="Legal name on invoices.")
    address: str | None = strawberry.field(description="Postal address (lines).")
    tax_id: str | None = strawberry.field(description="VAT / tax identification number.")


def billing_details_view(details: dict[str, Any] | None) -> CustomerBillingDetails | None:
    if not details:
        return None
    return CustomerBillingDetails(
        legal_name=details.get("legalName"),
        address=details.get("address"),
        tax_id=details.get("taxId"),
    )


def customer_view(row: CustomerRow) -> Customer:
    return Customer(
        id=row.id,
        name=row.name,
        email=row.email,
        metadata=json_value(row.metadata_),
        billing_details=billing_details_view(row.billing_details),
        is_archived=row.archived_at is not None,
        created_at=row.created_at,
        pk=row.pk,
    )
