"""What the domain tells the outside world: builds webhook event data and emits it through
the outbox, in the transaction of the change (app.domain.outbound.outbox)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.outbound.outbox import emit
from app.domain.subscriptions.dates import Dates, current_period, status_at
from app.models import Subscription
from app.store import catalog as catalog_store
from app.store import customers as customer_store
from app.store import notifications as store
from app.store import units

TRIAL_ENDING_SOON = timedelta(days=3)


def subscription_data(sub: Subscription, customer_id: str, plan_id: str,
                      now: datetime) -> dict[str, Any]:
    dates = Dates.of(sub)
    period = current_period(dates, now)
    return {
        "id": sub.id, "customerId": customer_id, "planId": plan_id,
        "planVersion": sub.plan_version, "status": status_at(dates, now).value,
        "resourceId": sub.resource_id, "startDate": sub.start_date, "endDate": sub.end_date,
        "trialEndDate": sub.trial_end_date, "billingPeriod": sub.billing_period,
        "currentPeriodStart": period.start if period else None,
        "currentPeriodEnd": period.end if period else None,
        "addons": [{"addonId": a["addonId"], "quantity": a["quantity"]} for a in sub.addons],
        "scheduledChange": sub.scheduled_change, "billingMode": sub.billing_mode,
        "isParallelTrial": sub.is_parallel_trial,
    }


async def subscription_event(session: AsyncSession, event_type: str, sub: Subscription,
                             now: datetime) -> None:
    customer = await customer_store.customer_by_pk(session, sub.customer_pk)
    plan = await catalog_store.package_by_pk(session, sub.plan_pk)
    assert customer is not None and plan is not None
    await emit(session, sub.environment_pk, event_type,
               {"subscription": subscription_data(sub, customer.id, plan.id, now)}, now)


async def entitlements_changed(session: AsyncSession, env: uuid.UUID, customer_id: str,
                               before: dict[str, Any], after: dict[str, Any],
                               now: datetime) -> None:
    """Emit when the effective answer of any feature changed (sources alone don't count)."""
    def essence(data: dict[str, Any] | None) -> Any:
        if data is None:
            return None
        return {k: v for k, v in data.items() if k not in ("sources", "anchor")}

    changed = sorted(f for f in set(before) | set(after)
                     if essence(before.get(f)) != essence(after.get(f)))
    if changed:
        await emit(session, env, "entitlements.changed",
                   {"customerId": customer_id, "featureIds": changed,
                    "entitlements": {f: essence(after.get(f)) for f in changed}}, now)


async def trials_ending_soon(session: AsyncSession, now: datetime, limit: int = 500) -> int:
    """Emit trial.ending_soon once per trial, TRIAL_ENDING_SOON before it ends."""
    subs = await store.trials_ending_within(session, now, TRIAL_ENDING_SOON, limit)
    for sub in subs:
        sub.trial_ending_notified_at = now  # also for trials canceled early: never again
        if sub.end_date is not None and sub.end_date < (sub.trial_end_date or now):
            continue  # canceled before the trial ends: nothing to announce
        await subscription_event(session, "trial.ending_soon", sub, now)
    await units.add(session, *subs)
    return len(subs)


async def threshold_crossings(session: AsyncSession, now: datetime, limit: int = 1000) -> int:
    """Emit usage.threshold_crossed for each crossing recorded by metering, exactly once."""
    due = await store.undelivered_crossings(session, limit)
    for item in due:
        crossing = item.crossing
        await emit(session, crossing.environment_pk, "usage.threshold_crossed", {
            "customerId": item.customer_id, "featureId": crossing.feature_id,
            "resourceId": crossing.resource_key or None, "threshold": crossing.threshold,
            "usage": crossing.usage, "usageLimit": crossing.usage_limit,
            "periodStart": crossing.period_start, "crossedAt": crossing.crossed_at}, now)
        await store.mark_delivered(session, crossing, now)
    return len(due)
