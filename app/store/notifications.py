"""SQL for the notification job (app.domain.outbound.notifications): what is due to be announced.

Both reads lock what they return and skip what another pass holds: two jobs running at once
split the work instead of announcing anything twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import Customer, Subscription, ThresholdCrossing


async def trials_ending_within(
    session: AsyncSession, now: datetime, window: timedelta, limit: int
) -> list[Subscription]:
    """Started trials that end within `window` from now and were not announced yet."""
    query = (
        select(Subscription)
        .where(
            col(Subscription.trial_end_date).is_not(None),
            col(Subscription.trial_end_date) > now,
            col(Subscription.trial_end_date) <= now + window,
            col(Subscription.trial_ending_notified_at).is_(None),
            col(Subscription.start_date) <= now,
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(query)).scalars())


@dataclass(frozen=True)
class Crossing:
    """A threshold crossing recorded by metering, not announced yet, with its customer's id."""

    crossing: ThresholdCrossing
    customer_id: str


async def undelivered_crossings(session: AsyncSession, limit: int) -> list[Crossing]:
    query = (
        select(ThresholdCrossing, col(Customer.id))
        .join(Customer, col(Customer.pk) == ThresholdCrossing.customer_pk)
        .where(col(ThresholdCrossing.delivered_at).is_(None))
        .limit(limit)
        .with_for_update(skip_locked=True, of=ThresholdCrossing)
    )
    return [
        Crossing(crossing, customer_id)
        for crossing, customer_id in (await session.execute(query)).all()
    ]


async def mark_delivered(session: AsyncSession, crossing: ThresholdCrossing, now: datetime) -> None:
    await session.execute(
        update(ThresholdCrossing)
        .where(
            col(ThresholdCrossing.customer_pk) == crossing.customer_pk,
            col(ThresholdCrossing.feature_id) == crossing.feature_id,
            col(ThresholdCrossing.resource_key) == crossing.resource_key,
            col(ThresholdCrossing.period_start) == crossing.period_start,
            col(ThresholdCrossing.threshold) == crossing.threshold,
        )
        .values(delivered_at=now)
    )
