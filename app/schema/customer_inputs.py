"""Inputs and payloads of the customer, subscription and promotion mutations (API.md names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from app.domain.catalog.choices import TrialEndBehavior
from app.domain.periods import BillingPeriod, ResetPeriod
from app.domain.subscriptions.dates import BillingMode, CancelAt, ChangeTiming, EndTrialAction
from app.domain.subscriptions.promotions import PromotionDuration
from app.schema.catalog_inputs import given
from app.schema.common import DecimalScalar, UserError
from app.schema.customer_types import (
    Customer,
    CustomerSubscription,
    PromotionalEntitlement,
)

UNSET: Any = strawberry.UNSET

# The domain's enums, defined there once and exposed here under the same names.
strawberry.enum(
    ChangeTiming,
    name="ChangeTiming",
    description="When a plan change that is a downgrade takes effect.",
)
strawberry.enum(CancelAt, name="CancelAt", description="When a cancellation takes effect.")
strawberry.enum(EndTrialAction, name="EndTrialAction", description="How to end a trial now.")
strawberry.enum(
    PromotionDuration,
    name="PromotionDuration",
    description="How long a promotional entitlement lasts.",
)


@strawberry.input(description="An add-on and its quantity.")
class AddonInput:
    addon_id: str = strawberry.field(description="The add-on.")
    quantity: int = strawberry.field(default=1, description="How many (1 … max quantity).")


@strawberry.input(description="A trial: a length in days or an end date, and its end.")
class SubscriptionTrialInput:
    days: int | None = strawberry.field(default=UNSET, description="Length in days.")
    end_date: datetime | None = strawberry.field(default=UNSET, description="When it ends.")
    end_behavior: TrialEndBehavior | None = strawberry.field(
        default=UNSET, description="Convert to paid (default) or cancel."
    )


@strawberry.input(description="A per-subscription entitlement value (custom plans, overrides).")
class SubscriptionEntitlementInput:
    feature_id: str = strawberry.field(description="The feature.")
    limit: float | None = strawberry.field(default=UNSET, description="Metered limit.")
    unlimited: bool | None = strawberry.field(default=UNSET, description="No limit.")
    soft_limit: bool | None = strawberry.field(default=UNSET, description="Overage allowed.")
    value: float | None = strawberry.field(default=UNSET, description="Configuration number.")
    enum_values: list[str] | None = strawberry.field(default=UNSET, description="Enum values.")
    reset_period: ResetPeriod | None = strawberry.field(
        default=UNSET, description="When usage resets."
    )


@strawberry.input(description="A negotiated price: the plan's base charge or an add-on's.")
class PriceOverrideInput:
    amount: DecimalScalar = strawberry.field(description="Amount per billing period.")
    addon_id: str | None = strawberry.field(
        default=UNSET, description="The add-on; omit for the base charge."
    )
    currency: str | None = strawberry.field(
        default=UNSET, description="Currency (the plan's by default)."
    )


@strawberry.input(description="How the subscription is billed.")
class BillingInput:
    mode: BillingMode = strawberry.field(
        default=BillingMode.EXTERNAL, description="EXTERNAL or INVOICE."
    )
    payment_terms_days: int | None = strawberry.field(
        default=UNSET, description="Invoice payment terms."
    )


_SUBSCRIPTION_FIELDS = (
    "plan_id",
    "subscription_id",
    "resource_id",
    "billing_period",
    "start_date",
    "addons",
    "trial",
    "skip_trial",
    "entitlements",
    "price_overrides",
    "billing",
    "change_timing",
    "end_date",
    "idempotency_key",
    "metadata",
)


@strawberry.input(description="What to subscribe a customer to.")
class SubscriptionFields:
    plan_id: str = strawberry.field(description="The plan.")
    subscription_id: str | None = strawberry.field(
        default=UNSET, description="Id; generated when omitted."
    )
    resource_id: str | None = strawberry.field(
        default=UNSET, description="Resource (multi-sub products)."
    )
    billing_period: BillingPeriod | None = strawberry.field(
        default=UNSET, description="MONTHLY or ANNUALLY."
    )
    start_date: datetime | None = strawberry.field(
        default=UNSET, description="Start; now when omitted."
    )
    addons: list[AddonInput] | None = strawberry.field(default=UNSET, description="Add-ons.")
    trial: SubscriptionTrialInput | None = strawberry.field(
        default=UNSET, description="Trial; the plan's default trial when omitted."
    )
    skip_trial: bool | None = strawberry.field(
        default=UNSET, description="No trial, even a default one."
    )
    entitlements: list[SubscriptionEntitlementInput] | None = strawberry.field(
        default=UNSET, description="Per-subscription values."
    )
    price_overrides: list[PriceOverrideInput] | None = strawberry.field(
        default=UNSET, description="Negotiated prices."
    )
    billing: BillingInput | None = strawberry.field(default=UNSET, description="Billing.")
    change_timing: ChangeTiming | None = strawberry.field(
        default=UNSET, description="For downgrades: now (default) or at period end."
    )
    end_date: datetime | None = strawberry.field(
        default=UNSET, description="The contract's end (as cancelSubscription at: DATE)."
    )
    idempotency_key: str | None = strawberry.field(
        default=UNSET, description="A retried request with the same key has effect once."
    )
    metadata: JSON | None = strawberry.field(default=UNSET, description="Your own data.")

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in given(self, *_SUBSCRIPTION_FIELDS).items() if v is not None}


@strawberry.input(description="Subscribe a customer (or change its plan).")
class ProvisionSubscriptionInput(SubscriptionFields):
    customer_id: str = strawberry.field(default="", description="The customer.")

    def to_dict(self) -> dict[str, Any]:
        return {"customerId": self.customer_id, **super().to_dict()}


@strawberry.input(description="Who the customer's invoices are addressed to.")
class CustomerBillingDetailsInput:
    legal_name: str | None = strawberry.field(
        default=None, description="The buyer's legal name on invoices (default: the name)."
    )
    address: str | None = strawberry.field(default=None, description="Postal address (lines).")
    tax_id: str | None = strawberry.field(default=None, description="VAT / tax identification.")


@strawberry.input(description="Create or update a customer, optionally with a subscription.")
class ProvisionCustomerInput:
    customer_id: str = strawberry.field(description="The customerId (your own id).")
    name: str | None = strawberry.field(default=UNSET, description="Display name.")
    email: str | None = strawberry.field(default=UNSET, description="Email address.")
    metadata: JSON | None = strawberry.field(default=UNSET, description="Your own data.")
    billing_details: CustomerBillingDetailsInput | None = strawberry.field(
        default=UNSET,
        description="Printed on new invoices; replaces the billing details as a whole "
        "(empty strings are left out).",
    )
    subscription: SubscriptionFields | None = strawberry.field(
        default=UNSET, description="Subscribe now; without it, default plans are subscribed."
    )
    idempotency_key: str | None = strawberry.field(
        default=UNSET, description="A retried request with the same key has effect once."
    )


@strawberry.input(description="Change a subscription; omitted fields keep their value.")
class UpdateSubscriptionInput:
    subscription_id: str = strawberry.field(description="The subscription.")
    addons: list[AddonInput] | None = strawberry.field(
        default=UNSET, description="Replaces the add-ons."
    )
    entitlements: list[SubscriptionEntitlementInput] | None = strawberry.field(
        default=UNSET, description="Replaces the per-subscription values."
    )
    price_overrides: list[PriceOverrideInput] | None = strawberry.field(
        default=UNSET, description="Replaces the negotiated prices."
    )
    trial_end_date: datetime | None = strawberry.field(
        default=UNSET, description="Extend or shorten a trial."
    )
    metadata: JSON | None = strawberry.field(default=UNSET, description="Your own data.")

    def to_dict(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in given(
                self,
                "subscription_id",
                "addons",
                "entitlements",
                "price_overrides",
                "trial_end_date",
                "metadata",
            ).items()
            if v is not None
        }


@strawberry.input(description="Cancel a subscription now, at period end or on a date.")
class CancelSubscriptionInput:
    subscription_id: str = strawberry.field(description="The subscription.")
    at: CancelAt = strawberry.field(default=CancelAt.IMMEDIATE, description="When.")
    date: datetime | None = strawberry.field(default=UNSET, description="With at: DATE.")

    def to_dict(self) -> dict[str, Any]:
        return {
            k: v for k, v in given(self, "subscription_id", "at", "date").items() if v is not None
        }


@strawberry.input(description="End a subscription's trial now.")
class EndTrialInput:
    subscription_id: str = strawberry.field(description="The subscription in trial.")
    action: EndTrialAction = strawberry.field(
        description="CONVERT (paid from now) or CANCEL (access ends now)."
    )

    def to_dict(self) -> dict[str, Any]:
        return {"subscriptionId": self.subscription_id, "action": self.action.value}


@strawberry.input(description="Withdraw a cancellation before it takes effect.")
class ResumeSubscriptionInput:
    subscription_id: str = strawberry.field(description="The subscription.")

    def to_dict(self) -> dict[str, Any]:
        return {"subscriptionId": self.subscription_id}


@strawberry.input(description="A promotional grant of one feature.")
class PromotionalGrantInput(SubscriptionEntitlementInput):
    duration: PromotionDuration | None = strawberry.field(default=UNSET, description="How long.")
    end_date: datetime | None = strawberry.field(default=UNSET, description="Or until when.")


@strawberry.input(description="Grant promotional entitlements to a customer.")
class GrantPromotionalEntitlementsInput:
    customer_id: str = strawberry.field(description="The customer.")
    grants: list[PromotionalGrantInput] = strawberry.field(description="What to grant.")


@strawberry.input(description="Revoke a customer's promotional entitlement for a feature.")
class RevokePromotionalEntitlementInput:
    customer_id: str = strawberry.field(description="The customer.")
    feature_id: str = strawberry.field(description="The feature.")


@strawberry.input(description="The customer to archive.")
class ArchiveCustomerInput:
    customer_id: str = strawberry.field(description="The customer.")


@strawberry.type(description="Result of provisionCustomer.")
class ProvisionCustomerPayload:
    customer: Customer | None = strawberry.field(description="The customer.")
    subscription: CustomerSubscription | None = strawberry.field(
        description="The subscription made."
    )
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type(description="Result of provisionSubscription.")
class ProvisionSubscriptionPayload:
    subscription: CustomerSubscription | None = strawberry.field(description="The subscription.")
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type(description="Result of a subscription mutation.")
class SubscriptionPayload:
    subscription: CustomerSubscription | None = strawberry.field(description="The subscription.")
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type(description="Result of a promotional entitlement mutation.")
class PromotionalEntitlementsPayload:
    customer: Customer | None = strawberry.field(description="The customer.")
    promotional_entitlements: list[PromotionalEntitlement] = strawberry.field(
        description="The customer's live promotional entitlements."
    )
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type(description="Result of a customer mutation.")
class CustomerPayload:
    customer: Customer | None = strawberry.field(description="The customer.")
    errors: list[UserError] = strawberry.field(description="Why it failed; empty on success.")
