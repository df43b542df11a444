"""Customer, subscription, promotion and entitlement-check resolvers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info, get_object_definition

from app.domain import insights
from app.domain.billing import invoices
from app.domain.subscriptions import (
    changes,
    default_plans,
    promotions,
    provisioning,
    provisioning_keys,
)
from app.domain.subscriptions import ends as subscription_ends
from app.errors import DomainError
from app.models import Subscription as SubscriptionRow
from app.resolvers.catalog import in_transaction
from app.resolvers.entitlement_checks import check_entitlement, check_entitlements
from app.schema.catalog_inputs import given
from app.schema.common import (
    AfterArg,
    ClientError,
    Connection,
    FirstArg,
    IncludeArchivedArg,
    ServerKeyOnly,
    connection,
    decode_cursor,
    page_size,
    wants_total,
)
from app.schema.context import Context
from app.schema.customer_inputs import (
    ArchiveCustomerInput,
    CancelSubscriptionInput,
    CustomerPayload,
    EndTrialInput,
    GrantPromotionalEntitlementsInput,
    PromotionalEntitlementsPayload,
    ProvisionCustomerInput,
    ProvisionCustomerPayload,
    ProvisionSubscriptionInput,
    ProvisionSubscriptionPayload,
    ResumeSubscriptionInput,
    RevokePromotionalEntitlementInput,
    SubscriptionPayload,
    UpdateSubscriptionInput,
)
from app.schema.customer_types import (
    Customer,
    CustomerSubscription,
    customer_view,
    promotion_view,
    subscription_view,
)
from app.schema.entitlement_types import Entitlement
from app.store import catalog as catalog_store
from app.store import customers as store

CustomerIdArg = Annotated[str, strawberry.argument(description="The customerId.")]
FeatureIdArg = Annotated[str, strawberry.argument(description="The featureId.")]
SubscriptionIdArg = Annotated[str, strawberry.argument(description="The subscriptionId.")]
ResourceIdArg = Annotated[
    str | None,
    strawberry.argument(description="The resource (of a multiple-subscription product)."),
]
SearchArg = Annotated[
    str | None,
    strawberry.argument(
        description="Only customers whose id, name or email contains this text, ignoring "
        "case (at most 200 characters; null or blank: every customer)."
    ),
]
RequestedUsageArg = Annotated[
    float | None,
    strawberry.argument(description="Usage about to be added: is there room for it?"),
]
RequestedValuesArg = Annotated[
    list[str] | None,
    strawberry.argument(description="ENUM configuration values the caller wants to use."),
]


async def _subscription_view(
    session: AsyncSession, row: SubscriptionRow, now: datetime
) -> CustomerSubscription:
    plans = await catalog_store.packages_by_pks(session, [row.plan_pk])
    customers = await store.customers_by_pks(session, [row.customer_pk])
    return subscription_view(row, plans[row.plan_pk].id, customers[row.customer_pk].id, now)


@strawberry.type
class CustomerQuery:
    @strawberry.field(
        description="May the customer use the feature (that much)? Never an "
        "error: unknown customers or features are denied with a reason."
    )
    async def entitlement(
        self,
        info: Info[Context, None],
        customer_id: CustomerIdArg,
        feature_id: FeatureIdArg,
        requested_usage: RequestedUsageArg = None,
        requested_values: RequestedValuesArg = None,
        resource_id: ResourceIdArg = None,
    ) -> Entitlement:
        return await check_entitlement(
            info.context, customer_id, feature_id, requested_usage, requested_values, resource_id
        )

    @strawberry.field(
        description="Every feature the customer is entitled to, with the answer "
        "for each (empty for unknown or archived customers)."
    )
    async def entitlements(
        self,
        info: Info[Context, None],
        customer_id: CustomerIdArg,
        resource_id: ResourceIdArg = None,
    ) -> list[Entitlement]:
        return (await check_entitlements(info.context, customer_id, resource_id)).entitlements

    @strawberry.field(description="One customer by id.", permission_classes=[ServerKeyOnly])
    async def customer(self, info: Info[Context, None], id: CustomerIdArg) -> Customer | None:
        ctx = info.context
        async with ctx.db.session() as session:
            row = await store.get_customer(session, ctx.environment_pk, id)
        return None if row is None else customer_view(row)

    @strawberry.field(description="Customers, by id.", permission_classes=[ServerKeyOnly])
    async def customers(
        self,
        info: Info[Context, None],
        first: FirstArg = None,
        after: AfterArg = None,
        include_archived: IncludeArchivedArg = False,
        search: SearchArg = None,
    ) -> Connection[Customer]:
        ctx = info.context
        size = page_size(first, ctx.settings.max_page_size)
        try:
            pattern = insights.search_pattern(search)
        except DomainError as error:
            raise ClientError.of(error) from None
        async with ctx.db.session() as session:
            page = await store.list_customers(
                session,
                ctx.environment_pk,
                size,
                decode_cursor(after),
                include_archived,
                count=wants_total(info),
                search=pattern,
            )
        return connection(page.items, page.has_next, page.total, customer_view)

    @strawberry.field(description="One subscription by id.", permission_classes=[ServerKeyOnly])
    async def subscription(
        self, info: Info[Context, None], id: SubscriptionIdArg
    ) -> CustomerSubscription | None:
        ctx = info.context
        async with ctx.db.session() as session:
            row = await store.get_subscription(session, ctx.environment_pk, id)
            return None if row is None else await _subscription_view(session, row, ctx.now())


SubscriptionPayloadT = TypeVar(
    "SubscriptionPayloadT", ProvisionSubscriptionPayload, SubscriptionPayload
)


def _subscription_payload(
    cls: type[SubscriptionPayloadT], result: tuple[Any, list[Any]]
) -> SubscriptionPayloadT:
    view, errors = result
    return cls(subscription=view, errors=errors)


@strawberry.type
class CustomerMutation:
    @strawberry.mutation(
        description="Create or update a customer; without a subscription, "
        "each product's default plan is subscribed.",
        permission_classes=[ServerKeyOnly],
    )
    async def provision_customer(
        self, info: Info[Context, None], input: ProvisionCustomerInput
    ) -> ProvisionCustomerPayload:
        raw = given(input, "customer_id", "name", "email", "metadata", "billing_details")
        fields = input.subscription.to_dict() if input.subscription else None

        key = input.idempotency_key or (fields or {}).get("idempotencyKey")

        async def work(session: AsyncSession, env: Any, now: datetime) -> Any:
            if key:
                digest = provisioning_keys.request_hash(
                    "provisionCustomer", {**raw, "subscription": fields})
                replay = await provisioning_keys.claim(session, env, key, "provisionCustomer",
                                                       digest, now)
                if replay is not None:
                    return await _replay(session, env, replay, now)
            customer, _created = await provisioning.upsert_customer(session, env, raw, now)
            sub = None
            if fields is not None:
                sub = await changes.provision_subscription(
                    session, env, {**fields, "customerId": customer.id}, now,
                    max_backdate_days=info.context.settings.max_backdate_days,
                )
                await invoices.after_provisioning(session, sub, now)
            else:
                view = await provisioning.view_for(session, env)
                made = await default_plans.subscribe_default_plans(
                    session, env, customer, now, view
                )
                from app.domain.checks import customer_entitlements

                await customer_entitlements.refresh(session, env, [customer.pk], now, view)
                sub = made[0] if made else None
            if key:
                await provisioning_keys.complete(session, env, key, {
                    "customerId": customer.id, "subscriptionId": sub.id if sub else None})
            sub_view = None if sub is None else await _subscription_view(session, sub, now)
            return customer_view(customer), sub_view

        result, errors = await in_transaction(info, work)
        customer, subscription = result if result is not None else (None, None)
        return ProvisionCustomerPayload(customer=customer, subscription=subscription, errors=errors)

    @strawberry.mutation(
        description="Subscribe a customer to a plan, or change its plan.",
        permission_classes=[ServerKeyOnly],
    )
    async def provision_subscription(
        self, info: Info[Context, None], input: ProvisionSubscriptionInput
    ) -> ProvisionSubscriptionPayload:
        raw = input.to_dict()
        key = raw.get("idempotencyKey")

        async def work(session: AsyncSession, env: Any, now: datetime) -> Any:
            if key:
                digest = provisioning_keys.request_hash("provisionSubscription", raw)
                replay = await provisioning_keys.claim(session, env, key,
                                                       "provisionSubscription", digest, now)
                if replay is not None:
                    return (await _replay(session, env, replay, now))[1]
            sub = await changes.provision_subscription(
                session, env, raw, now, max_backdate_days=info.context.settings.max_backdate_days
            )
            await invoices.after_provisioning(session, sub, now)
            if key:
                await provisioning_keys.complete(session, env, key, {
                    "customerId": raw.get("customerId"), "subscriptionId": sub.id})
            return await _subscription_view(session, sub, now)

        return _subscription_payload(ProvisionSubscriptionPayload, await in_transaction(info, work))

    @strawberry.mutation(
        description="Change a subscription's add-ons, values, prices, trial.",
        permission_classes=[ServerKeyOnly],
    )
    async def update_subscription(
        self, info: Info[Context, None], input: UpdateSubscriptionInput
    ) -> SubscriptionPayload:
        raw = input.to_dict()

        async def work(session: AsyncSession, env: Any, now: datetime) -> Any:
            sub = await changes.update_subscription(session, env, raw, now)
            return await _subscription_view(session, sub, now)

        return _subscription_payload(SubscriptionPayload, await in_transaction(info, work))

    @strawberry.mutation(
        description="Cancel a subscription now, at period end or on a date.",
        permission_classes=[ServerKeyOnly],
    )
    async def cancel_subscription(
        self, info: Info[Context, None], input: CancelSubscriptionInput
    ) -> SubscriptionPayload:
        raw = input.to_dict()

        async def work(session: AsyncSession, env: Any, now: datetime) -> Any:
            sub = await changes.cancel_subscription(session, env, raw, now)
            return await _subscription_view(session, sub, now)

        return _subscription_payload(SubscriptionPayload, await in_transaction(info, work))

    @strawberry.mutation(
        description="End a trial now: convert it (paid from now) or cancel it (access ends).",
        permission_classes=[ServerKeyOnly],
    )
    async def end_trial(
        self, info: Info[Context, None], input: EndTrialInput
    ) -> SubscriptionPayload:
        raw = input.to_dict()

        async def work(session: AsyncSession, env: Any, now: datetime) -> Any:
            sub = await subscription_ends.end_trial(session, env, raw, now)
            await invoices.issue_due(session, sub, now)  # a conversion starts paid periods now
            return await _subscription_view(session, sub, now)

        return _subscription_payload(SubscriptionPayload, await in_transaction(info, work))

    @strawberry.mutation(
        description="Withdraw an END_OF_PERIOD or DATE cancellation before it takes effect.",
        permission_classes=[ServerKeyOnly],
    )
    async def resume_subscription(
        self, info: Info[Context, None], input: ResumeSubscriptionInput
    ) -> SubscriptionPayload:
        raw = input.to_dict()

        async def work(session: AsyncSession, env: Any, now: datetime) -> Any:
            sub = await subscription_ends.resume_subscription(session, env, raw, now)
            await invoices.issue_due(session, sub, now)  # its schedule goes on past the old end
            return await _subscription_view(session, sub, now)

        return _subscription_payload(SubscriptionPayload, await in_transaction(info, work))

    @strawberry.mutation(
        description="Grant promotional entitlements (replacing live grants of the same features).",
        permission_classes=[ServerKeyOnly],
    )
    async def grant_promotional_entitlements(
        self, info: Info[Context, None], input: GrantPromotionalEntitlementsInput
    ) -> PromotionalEntitlementsPayload:
        grants = [
            given(g, *[f.python_name for f in get_object_definition(g, strict=True).fields])
            for g in input.grants
        ]

        async def work(session: AsyncSession, env: Any, now: datetime) -> Any:
            customer = await promotions.grant(session, env, input.customer_id, grants, now)
            return await _promotions(session, customer, now)

        return _promotions_payload(await in_transaction(info, work))

    @strawberry.mutation(
        description="Revoke a customer's promotional entitlement.",
        permission_classes=[ServerKeyOnly],
    )
    async def revoke_promotional_entitlement(
        self, info: Info[Context, None], input: RevokePromotionalEntitlementInput
    ) -> PromotionalEntitlementsPayload:
        async def work(session: AsyncSession, env: Any, now: datetime) -> Any:
            customer = await promotions.revoke(
                session, env, input.customer_id, input.feature_id, now
            )
            return await _promotions(session, customer, now)

        return _promotions_payload(await in_transaction(info, work))

    @strawberry.mutation(
        description="Archive a customer: checks answer CUSTOMER_ARCHIVED.",
        permission_classes=[ServerKeyOnly],
    )
    async def archive_customer(
        self, info: Info[Context, None], input: ArchiveCustomerInput
    ) -> CustomerPayload:
        async def work(session: AsyncSession, env: Any, now: datetime) -> Any:
            return customer_view(
                await provisioning.archive_customer(session, env, input.customer_id, now)
            )

        customer, errors = await in_transaction(info, work)
        return CustomerPayload(customer=customer, errors=errors)


async def _replay(session: AsyncSession, env: Any, first: dict[str, Any],
                  now: datetime) -> tuple[Any, Any]:
    """Answer a retried provisioning call as the first one did: the same customer and
    subscription (as they are now)."""
    customer = await store.get_customer(session, env, str(first.get("customerId")))
    sub_id = first.get("subscriptionId")
    sub = None if sub_id is None else await store.get_subscription(session, env, sub_id)
    return (None if customer is None else customer_view(customer),
            None if sub is None else await _subscription_view(session, sub, now))


async def _promotions(session: AsyncSession, customer: Any, now: datetime) -> Any:
    rows = (await store.promotions_of(session, [customer.pk], now))[customer.pk]
    return customer_view(customer), [promotion_view(r) for r in rows]


def _promotions_payload(result: tuple[Any, list[Any]]) -> PromotionalEntitlementsPayload:
    value, errors = result
    customer, promos = value if value is not None else (None, [])
    return PromotionalEntitlementsPayload(
        customer=customer, promotional_entitlements=promos, errors=errors
    )
