"""Insights across the environment's customers (`Query.insights`): each field one domain call
(app/domain/insights.py), answered by a fixed number of SQL statements whatever the number of
customers. docs/console.md ("Insights") says how each number is computed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.domain import insights as domain
from app.domain.subscriptions.dates import SubscriptionStatus
from app.errors import DomainError
from app.schema.catalog_types import Feature, Plan, feature_view
from app.schema.common import ClientError, page_size
from app.schema.context import Context
from app.schema.customer_types import CustomerSubscription, subscription_view

T = TypeVar("T")


async def _read(
    info: Info[Context, None],
    work: Callable[[AsyncSession, Any, datetime], Awaitable[T]],
    *arguments: Any,
) -> T:
    """One read in its own session, the environment's, reused for a while
    (`ALLOT_INSIGHTS_MAX_AGE`, app/domain/insights.py `reused`); a client mistake as a
    top-level error."""
    ctx = info.context
    db, env = ctx.db, ctx.environment_pk

    async def compute() -> T:
        async with db.session() as session:
            await domain.prepare(session)
            return await work(session, env, ctx.now())

    key = (env, info.field_name, *arguments)
    try:
        return await domain.reused(key, ctx.settings.insights_max_age, compute)
    except DomainError as error:
        raise ClientError.of(error) from None


async def _plan(info: Info[Context, None], plan_id: str) -> Plan:
    view = await info.context.loaders.package_view.load(("PLAN", plan_id))
    assert view is not None, plan_id  # counted from this environment's plans
    return view  # type: ignore[no-any-return]


@strawberry.type(description="How many customers have a live subscription to a plan.")
class PlanCustomerCount:
    plan_id: str = strawberry.field(description="The plan's id.")
    customers: int = strawberry.field(
        description="Customers with a subscription to it IN_TRIAL or ACTIVE now."
    )

    @strawberry.field(description="The plan.")
    async def plan(self, info: Info[Context, None]) -> Plan:
        return await _plan(info, self.plan_id)


@strawberry.type(description="How many customers have a subscription in a status.")
class StatusCustomerCount:
    status: SubscriptionStatus = strawberry.field(description="The status, at this instant.")
    customers: int = strawberry.field(
        description="Customers with at least one subscription in it (a customer with two "
        "subscriptions may count under two statuses)."
    )


@strawberry.type(description="Customers near or at their limit of a metered feature.")
class FeatureUtilization:
    feature_id: str = strawberry.field(description="The feature's id.")
    customers_with_limit: int = strawberry.field(
        description="Customers granted the feature with a limit (unlimited ones excluded)."
    )
    at_least_80_percent: int = strawberry.field(
        name="atLeast80Percent",
        description="Of those, customers whose current-period usage is at least 80 % of it.",
    )
    at_least_100_percent: int = strawberry.field(
        name="atLeast100Percent",
        description="Of those, customers whose current-period usage is at least their limit.",
    )

    @strawberry.field(description="The feature.")
    async def feature(self, info: Info[Context, None]) -> Feature:
        row = await info.context.loaders.feature_by_id.load(self.feature_id)
        assert row is not None, self.feature_id
        return feature_view(row)


@strawberry.type(description="Customers whose current-period usage is in a range.")
class UsageBucket:
    from_: float = strawberry.field(name="from", description="Lowest usage in it.")
    to: float = strawberry.field(
        description="Usage up to (not including) this; the last bucket includes it."
    )
    customers: int = strawberry.field(description="Customers in the range.")


@strawberry.type(description="Revenue of a plan's subscriptions in one currency.")
class PlanRevenue:
    plan_id: str = strawberry.field(description="The plan's id.")
    currency: str = strawberry.field(description="ISO 4217 currency code.")
    amount: Decimal = strawberry.field(
        description="Sum of the totals of its invoices that are OPEN or PAID (not VOID)."
    )
    invoices: int = strawberry.field(description="How many invoices.")

    @strawberry.field(description="The plan.")
    async def plan(self, info: Info[Context, None]) -> Plan:
        return await _plan(info, self.plan_id)


WithinDaysArg = Annotated[
    int,
    strawberry.argument(
        description=f"Trials ending within this many days from now (0 to {domain.MAX_WITHIN_DAYS})."
    ),
]
TrialsFirstArg = Annotated[
    int,
    strawberry.argument(
        description="How many to return: 0 to the server's page size cap (100 by default), "
        "soonest first."
    ),
]
BucketsArg = Annotated[
    int, strawberry.argument(description=f"How many equal ranges (1 to {domain.MAX_BUCKETS}).")
]
FromArg = Annotated[
    datetime | None,
    strawberry.argument(
        name="from", description="Invoices issued at or after this instant (all when null)."
    ),
]
ToArg = Annotated[
    datetime | None,
    strawberry.argument(description="Invoices issued before this instant (all when null)."),
]


@strawberry.type(
    description="Numbers across the environment's customers (archived customers left out, "
    "but from revenue); "
    'each is computed when selected, from the stored state (docs/console.md, "Insights").'
)
class Insights:
    @strawberry.field(
        description="Customers per plan, most customers first (every plan not "
        "archived, and archived ones that still have customers)."
    )
    async def customers_per_plan(self, info: Info[Context, None]) -> list[PlanCustomerCount]:
        rows = await _read(info, domain.customers_per_plan)
        return [PlanCustomerCount(plan_id=r.plan_id, customers=r.customers) for r in rows]

    @strawberry.field(description="Customers per subscription status (every status).")
    async def customers_per_status(self, info: Info[Context, None]) -> list[StatusCustomerCount]:
        rows = await _read(info, domain.customers_per_status)
        return [StatusCustomerCount(status=r.status, customers=r.customers) for r in rows]

    @strawberry.field(description="Subscriptions in trial whose trial ends soon, soonest first.")
    async def trials_ending_soon(
        self, info: Info[Context, None], within_days: WithinDaysArg = 7, first: TrialsFirstArg = 20
    ) -> list[CustomerSubscription]:
        size = page_size(first, info.context.settings.max_page_size)  # before any reading

        async def work(session: AsyncSession, env: Any, now: datetime) -> list[Any]:
            found = await domain.trials_ending_soon(session, env, now, within_days, size)
            return [
                subscription_view(sub, plan_id, customer_id, now)
                for sub, plan_id, customer_id in found
            ]

        return await _read(info, work, within_days, size)

    @strawberry.field(
        description="Per metered feature: customers with a limit, and those at "
        "≥ 80 % and ≥ 100 % of it in the current period."
    )
    async def limit_utilization(self, info: Info[Context, None]) -> list[FeatureUtilization]:
        rows = await _read(info, domain.limit_utilization)
        return [
            FeatureUtilization(
                feature_id=r.feature_id,
                customers_with_limit=r.customers_with_limit,
                at_least_80_percent=r.at_least_80,
                at_least_100_percent=r.at_least_100,
            )
            for r in rows
        ]

    @strawberry.field(
        description="How the current-period usage of a metered feature is "
        "spread over the customers granted it, in equal ranges from 0 to the "
        "highest usage."
    )
    async def usage_distribution(
        self,
        info: Info[Context, None],
        feature_id: Annotated[str, strawberry.argument(description="The metered feature.")],
        buckets: BucketsArg = 10,
    ) -> list[UsageBucket]:
        async def work(session: AsyncSession, env: Any, now: datetime) -> list[Any]:
            return await domain.usage_distribution(session, env, feature_id, buckets, now)

        found = await _read(info, work, feature_id, buckets)
        return [UsageBucket(from_=b.start, to=b.end, customers=b.customers) for b in found]

    @strawberry.field(
        description="Invoiced revenue per plan and currency (invoices OPEN or "
        "PAID, not VOID), largest first."
    )
    async def revenue_by_plan(
        self, info: Info[Context, None], from_: FromArg = None, to: ToArg = None
    ) -> list[PlanRevenue]:
        async def work(session: AsyncSession, env: Any, now: datetime) -> list[Any]:
            return await domain.revenue_by_plan(session, env, from_, to)

        rows = await _read(info, work, from_, to)
        return [
            PlanRevenue(
                plan_id=r.plan_id, currency=r.currency, amount=r.amount, invoices=r.invoices
            )
            for r in rows
        ]
