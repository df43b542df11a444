"""Falling back to the product's default plan when a subscription ends.

A fallback is an ordinary subscription row on the default plan, made as soon as the end is
known (a cancellation, an `endDate`, a CANCEL trial at provisioning, `endTrial CANCEL`) and
starting at that end. Its status, like every status, is a function of its dates, so checks
see the default plan at the very instant the other subscription ends, with or without the
background job. It is linked to the subscription it follows (`fallback_for_pk`) and kept in
step with it: when that end moves (a trial's end changed), it moves; when the end goes away
(a cancellation withdrawn, a trial converted) or another subscription takes the slot, it is
withdrawn (canceled before it starts).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.checks.customer_entitlements import CatalogView
from app.domain.outbound import notifications
from app.domain.subscriptions.dates import ENDED, Dates, end_subscription, status_at
from app.domain.subscriptions.provisioning import is_live, new_subscription_id
from app.models import Customer, Package, Subscription
from app.store import catalog as catalog_store
from app.store import customers as store
from app.store import units


async def _default_plan(
    session: AsyncSession, env: uuid.UUID, sub: Subscription, view: CatalogView
) -> Package | None:
    """The plan `sub` falls back to when it ends, or None (no default, not configured, or
    it is on the default plan already)."""
    product = (await catalog_store.products_by_pks(session, env, [sub.product_pk]))[sub.product_pk]
    default = view.plans_by_id.get(product.default_plan_id or "")
    if (
        not product.downgrade_to_default
        or default is None
        or default.pk == sub.plan_pk
        or default.latest_version is None
        or default.archived_at is not None
    ):
        return None
    return default


def _ends_in_trial(sub: Subscription) -> bool:
    """A parallel trial ending before it converts: the subscription it ran beside goes on."""
    return (
        sub.is_parallel_trial
        and sub.end_date is not None
        and (sub.trial_end_date is None or sub.end_date <= sub.trial_end_date)
    )


async def sync_fallback(
    session: AsyncSession,
    env: uuid.UUID,
    customer: Customer,
    sub: Subscription,
    view: CatalogView,
    now: datetime,
) -> None:
    """Make the customer's default-plan fallback for `sub` match `sub`'s end: create it,
    move it, or withdraw it. Idempotent (the job calls it again for expired trials)."""
    subs = (await store.subscriptions_of(session, [customer.pk]))[customer.pk]
    mine = [
        s for s in subs if s.fallback_for_pk == sub.pk and status_at(Dates.of(s), now) not in ENDED
    ]
    mine_pks = {s.pk for s in mine}
    end = sub.end_date
    default = None
    if end is not None and not _ends_in_trial(sub) and customer.archived_at is None:
        default = await _default_plan(session, env, sub, view)
    if default is not None and end is not None:
        taken = any(
            s.pk != sub.pk
            and s.pk not in mine_pks
            and s.product_pk == sub.product_pk
            and s.resource_id == sub.resource_id
            and is_live(s, end)
            for s in subs
        )
        if taken:
            default = None
    if default is None or end is None:
        for fallback in mine:
            if fallback.start_date > now:  # never withdraw one that has started
                end_subscription(fallback, now, now)
                await units.add(session, fallback)
                await notifications.subscription_event(
                    session, "subscription.canceled", fallback, now
                )
        return
    if mine:
        fallback = mine[0]
        if fallback.start_date != end and fallback.start_date > now:
            fallback.start_date = end
            fallback.status = status_at(Dates.of(fallback), now).value
            fallback.updated_at = now
            await units.add(session, fallback)
            await notifications.subscription_event(session, "subscription.updated", fallback, now)
        return
    fallback = Subscription(
        environment_pk=env,
        id=new_subscription_id(),
        customer_pk=customer.pk,
        product_pk=sub.product_pk,
        plan_pk=default.pk,
        plan_version=default.latest_version or 1,
        resource_id=sub.resource_id,
        status="ACTIVE",
        start_date=end,
        fallback_for_pk=sub.pk,
        created_at=now,
        updated_at=now,
    )
    fallback.status = status_at(Dates.of(fallback), now).value
    await units.add(session, fallback)
    await notifications.subscription_event(session, "subscription.created", fallback, now)
