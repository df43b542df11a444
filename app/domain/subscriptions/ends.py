"""Moving a subscription's end: ending a trial now (`endTrial`), and withdrawing a
cancellation that has not taken effect (`resumeSubscription`). Rules: docs/subscriptions.md.

Both run in the caller's transaction under the customer's row lock, keep the default-plan
fallback in step (app.domain.subscriptions.fallbacks) and recompute the customer's entitlements.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.catalog import rules
from app.domain.checks import customer_entitlements
from app.domain.checks.customer_entitlements import load_catalog_view
from app.domain.outbound import notifications
from app.domain.subscriptions.changes import (
    _ended,
    _move_replaced,
    _require_subscription,
    apply_due_change,
)
from app.domain.subscriptions.dates import Dates, EndTrialAction, SubscriptionStatus, status_at
from app.domain.subscriptions.fallbacks import sync_fallback
from app.domain.subscriptions.provisioning import convert_trial_now, expire_trial_now, is_live
from app.errors import DomainError, ErrorCode
from app.models import Subscription
from app.store import customers as store
from app.store import units

END_TRIAL_ACTIONS = tuple(EndTrialAction)


async def end_trial(
    session: AsyncSession, env: uuid.UUID, raw: Mapping[str, Any], now: datetime
) -> Subscription:
    """CONVERT: paid from now (a parallel trial replaces, now, the subscription it ran
    beside). CANCEL: access ends now (EXPIRED); a parallel trial's paid subscription carries
    on, another falls back to the default plan from now."""
    action = rules.check_choice(raw.get("action"), END_TRIAL_ACTIONS, ["action"])
    sub, customer = await _require_subscription(session, env, raw)
    if (error := _ended(sub, now)) is not None:
        raise error
    if status_at(Dates.of(sub), now) is not SubscriptionStatus.IN_TRIAL:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"subscription {sub.id!r} is not in trial", ["subscriptionId"]
        )
    view = await load_catalog_view(session, env)
    apply_due_change(sub, view, now)
    if action == "CONVERT":
        convert_trial_now(sub, now)
        replaced = await _replace_now(session, sub, now) if sub.is_parallel_trial else []
        for other in replaced:  # a fallback waiting for its end is not needed any more
            await sync_fallback(session, env, customer, other, view, now)
        event = "trial.converted"
    else:
        if sub.is_parallel_trial:
            await _move_replaced(session, sub, None, now)  # the paid subscription carries on
        expire_trial_now(sub, now)
        event = "trial.expired"
    await units.add(session, sub)
    await notifications.subscription_event(session, event, sub, now)
    await sync_fallback(session, env, customer, sub, view, now)
    await customer_entitlements.refresh(session, env, [customer.pk], now, view)
    return sub


async def _replace_now(
    session: AsyncSession, trial: Subscription, now: datetime
) -> list[Subscription]:
    """A parallel trial converted early takes its slot now: the subscription it ran beside
    (the one it replaces, or for a CANCEL trial, the slot's other live one) ends now."""
    subs = (await store.subscriptions_of(session, [trial.customer_pk]))[trial.customer_pk]
    replaced = []
    for other in subs:
        beside = (
            other.pk == trial.replaces_pk
            if trial.replaces_pk is not None
            else other.product_pk == trial.product_pk
            and other.resource_id == trial.resource_id
            and not other.is_parallel_trial
        )
        if other.pk == trial.pk or not beside or not is_live(other, now):
            continue
        if other.start_date > now:
            continue  # a future subscription keeps its own plans
        other.end_date = now
        other.status = status_at(Dates.of(other), now).value
        other.updated_at = now
        await units.add(session, other)
        await notifications.subscription_event(session, "subscription.updated", other, now)
        replaced.append(other)
    return replaced


async def resume_subscription(
    session: AsyncSession, env: uuid.UUID, raw: Mapping[str, Any], now: datetime
) -> Subscription:
    """Withdraw a cancellation (END_OF_PERIOD, DATE or `endDate`) before it takes effect: the
    subscription runs on as if never canceled (a CANCEL trial still ends with its trial)."""
    sub, customer = await _require_subscription(session, env, raw)
    if (error := _ended(sub, now)) is not None:
        raise error
    if sub.canceled_at is None or sub.end_date is None or sub.end_date <= now:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"subscription {sub.id!r} has no cancellation to withdraw",
            ["subscriptionId"],
        )
    subs = (await store.subscriptions_of(session, [customer.pk]))[customer.pk]
    successor = next(
        (
            s
            for s in subs
            if s.replaces_pk == sub.pk
            and s.pk != sub.pk
            and s.start_date == sub.end_date
            and is_live(s, now)
        ),
        None,
    )
    if successor is not None:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"subscription {sub.id!r} ends because {successor.id!r} starts then; "
            "cancel that one to keep this one",
            ["subscriptionId"],
        )
    view = await load_catalog_view(session, env)
    apply_due_change(sub, view, now)
    trial_runs = sub.trial_end_date is not None and sub.trial_end_date > now
    sub.end_date = sub.trial_end_date if trial_runs and sub.trial_end_behavior == "CANCEL" else None
    sub.canceled_at = None
    sub.status = status_at(Dates.of(sub), now).value
    sub.updated_at = now
    if trial_runs and sub.is_parallel_trial and sub.trial_end_behavior == "CONVERT_TO_PAID":
        await _move_replaced(session, sub, sub.trial_end_date, now)  # it replaces it again
    await units.add(session, sub)
    await notifications.subscription_event(session, "subscription.updated", sub, now)
    await sync_fallback(session, env, customer, sub, view, now)
    await customer_entitlements.refresh(session, env, [customer.pk], now, view)
    return sub
