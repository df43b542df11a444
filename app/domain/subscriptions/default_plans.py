"""Default plans: a customer provisioned without a subscription gets each product's default
plan. Apart from app.domain.subscriptions.provisioning because it provisions subscriptions
(app.domain.subscriptions.changes), which themselves build on provisioning's rules."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.checks.customer_entitlements import CatalogView
from app.domain.subscriptions.changes import provision_subscription
from app.domain.subscriptions.dates import ENDED, Dates, status_at
from app.models import Customer, Subscription
from app.store import catalog as catalog_store
from app.store import customers as store


async def subscribe_default_plans(
    session: AsyncSession, env: uuid.UUID, customer: Customer, now: datetime, view: CatalogView
) -> list[Subscription]:
    """A customer provisioned without a subscription gets each product's default plan (in
    products where it holds no live subscription yet)."""
    existing = (await store.subscriptions_of(session, [customer.pk]))[customer.pk]
    held = {s.product_pk for s in existing if status_at(Dates.of(s), now) not in ENDED}
    created = []
    for product in (await catalog_store.all_products(session, env)).values():
        if product.archived_at is not None or not product.default_plan_id:
            continue
        if product.pk in held:
            continue
        plan = view.plans_by_id.get(product.default_plan_id)
        if plan is None or plan.latest_version is None or plan.archived_at is not None:
            continue
        created.append(
            await provision_subscription(
                session,
                env,
                {"customerId": customer.id, "planId": plan.id, "skipTrial": True},
                now,
                view=view,
                refresh=False,
            )
        )
    return created
