"""Creating, changing and canceling subscriptions.

Rules (see docs/subscriptions.md):
* single-subscription product: a new plan for a customer who holds one is a plan change —
  an upgrade applies now; a downgrade now or at the end of the period (`changeTiming`);
  a trial of another plan while a paid subscription is active runs in parallel, and if it
  converts it replaces the paid one at the trial's end;
* a paying (non-FREE) subscription's plan change applies no default trial (only a `trial`
  in the request starts one), and a customer gets a plan's default trial once;
* paying for the plan of a running parallel trial ends that trial (one live subscription);
* multi-subscription product: one subscription per `resourceId` (none on others);
* a future `startDate` while a subscription is live in the same slot ends that one then;
* add-ons must be compatible with the plan and within their max quantity;
* a CUSTOM plan's variable entitlements need a value at provisioning unless the catalog
  gives one (their default);
* a subscription that ends falls back to the product's default plan when configured, from
  the instant it ends (app.domain.subscriptions.fallbacks);
* `endDate` at provisioning is a cancellation on that date.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.billing import proration
from app.domain.billing.proration import Proration
from app.domain.catalog import prices as catalog_prices
from app.domain.catalog import rules
from app.domain.catalog.features import feature_definition
from app.domain.checks import customer_entitlements
from app.domain.checks.customer_entitlements import CatalogView, load_catalog_view
from app.domain.outbound import notifications
from app.domain.subscriptions.dates import (
    ENDED,
    BillingMode,
    CancelAt,
    ChangeTiming,
    Dates,
    SubscriptionStatus,
    change_due,
    end_subscription,
    status_at,
)
from app.domain.subscriptions.fallbacks import sync_fallback
from app.domain.subscriptions.inputs import (
    checked_addons,
    checked_overrides,
    checked_values,
    is_upgrade,
)
from app.domain.subscriptions.provisioning import (
    convert_trial_now,
    is_live,
    is_paying,
    new_subscription_id,
    pays_for_plan,
    period_end,
    require_customer,
    require_plan,
    trial_window,
)
from app.errors import DomainError, ErrorCode
from app.models import Customer, Package, Product, Subscription
from app.store import catalog as catalog_store
from app.store import customers as store
from app.store import units


def _aware(value: Any, path: list[str | int]) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "expected a date-time with a time zone", path)
    return value


async def _features(session: AsyncSession, env: uuid.UUID) -> dict[str, dict[str, Any]]:
    return {
        f.id: feature_definition(f)
        for f in (await catalog_store.all_features(session, env)).values()
        if f.archived_at is None
    }


async def _product(session: AsyncSession, env: uuid.UUID, plan: Package) -> Product:
    return (await catalog_store.products_by_pks(session, env, [plan.product_pk]))[plan.product_pk]


def _billing(raw: Mapping[str, Any]) -> tuple[str, int | None]:
    billing = raw.get("billing") or {}
    mode = rules.check_choice(
        billing.get("mode") or "EXTERNAL", tuple(BillingMode), ["billing", "mode"]
    )
    terms = billing.get("paymentTermsDays")
    if terms is None and mode == "INVOICE":
        terms = 30
    if terms is not None and (
        isinstance(terms, bool) or not isinstance(terms, int) or not 0 <= terms <= 365
    ):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "paymentTermsDays must be 0 to 365",
            ["billing", "paymentTermsDays"],
        )
    return mode, terms


async def provision_subscription(
    session: AsyncSession,
    env: uuid.UUID,
    raw: Mapping[str, Any],
    now: datetime,
    view: CatalogView | None = None,
    refresh: bool = True,
    max_backdate_days: int | None = None,
    prorations: list[Proration] | None = None,
) -> Subscription:
    """Create a subscription or change one. An immediate change of an invoice-billed
    subscription is prorated (app/domain/billing/proration.py); what it invoiced is appended to
    `prorations` when given (previewSubscription shows it)."""
    customer = await require_customer(session, env, str(raw.get("customerId")))
    if customer.archived_at is not None:
        raise DomainError(
            ErrorCode.CUSTOMER_ARCHIVED, f"customer {customer.id!r} is archived", ["customerId"]
        )
    view = view or await load_catalog_view(session, env)
    plan = require_plan(view, raw.get("planId"), ["planId"])
    content = view.latest(plan)
    product = await _product(session, env, plan)
    if product.archived_at is not None:
        raise DomainError(ErrorCode.ARCHIVED, f"product {product.id!r} is archived", ["planId"])
    start = _aware(raw.get("startDate"), ["startDate"]) or now
    if max_backdate_days is not None and start < now - timedelta(days=max_backdate_days):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"startDate may be at most {max_backdate_days} days in the past",
            ["startDate"],
        )
    billing_period = rules.check_choice(
        raw.get("billingPeriod") or "MONTHLY", catalog_prices.BILLING_PERIODS, ["billingPeriod"]
    )
    addons = checked_addons(raw.get("addons"), plan, view)
    values = checked_values(raw.get("entitlements"), content, view, await _features(session, env))
    overrides = checked_overrides(raw.get("priceOverrides"), content, addons)
    mode, terms = _billing(raw)
    timing = rules.check_choice(
        raw.get("changeTiming") or "IMMEDIATE", tuple(ChangeTiming), ["changeTiming"]
    )
    contract_end = _contract_end(raw, start, now)
    subscription_id = raw.get("subscriptionId")
    taken = None  # the subscription that already has the requested id
    if subscription_id is not None:
        rules.check_id(subscription_id, ["subscriptionId"], "subscriptionId")
        taken = await store.get_subscription(session, env, subscription_id)
    resource_id = raw.get("resourceId")
    if resource_id is not None and not product.multiple_subscriptions:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"product {product.id!r} allows one subscription per customer: resourceId is "
            "only for products with multiple subscriptions",
            ["resourceId"],
        )
    existing = (await store.subscriptions_of(session, [customer.pk]))[customer.pk]
    same_slot = [
        s
        for s in existing
        if s.product_pk == plan.product_pk
        and is_live(s, now)
        and not _parallel_trial_running(s, now)
        and (not product.multiple_subscriptions or s.resource_id == resource_id)
    ]
    # The subscription in force now comes before one only scheduled (e.g. a fallback).
    same_slot.sort(key=lambda s: status_at(Dates.of(s), now) is SubscriptionStatus.SCHEDULED)
    current = same_slot[0] if same_slot else None
    if current is not None:
        apply_due_change(current, view, now)
    # No default trial on a paying subscription's plan change, nor a second time per plan.
    default_trial = (current is None or not pays_for_plan(current, view, now)) and (
        plan.pk not in await store.trialled_plans(session, customer.pk)
    )
    trial_end, behavior = trial_window(raw, content, start, default_trial)
    replaces = None  # the paid subscription a converting parallel trial replaces
    takes_over = None  # the live subscription a future one ends on its start date
    if current is not None and start <= now:
        parallel = trial_end is not None and is_paying(current, now) and current.plan_pk != plan.pk
        if not parallel:
            if taken is not None and taken.pk != current.pk:
                raise _duplicate(subscription_id)
            # What was charged for the period so far, before anything changes (a trial: none).
            before = await proration.before_change(session, current, view, now)
            was_trial = status_at(Dates.of(current), now) is SubscriptionStatus.IN_TRIAL
            if was_trial and raw.get("skipTrial"):
                convert_trial_now(current, now)  # paying now for what was a trial
            sub = _change_plan(current, plan, view, raw, addons, values, overrides, timing, now)
            sub.billing_period = billing_period if raw.get("billingPeriod") else sub.billing_period
            if raw.get("billing") is not None:
                sub.billing_mode, sub.payment_terms_days = mode, terms
            if raw.get("metadata") is not None:
                sub.metadata_ = raw["metadata"]
            if status_at(Dates.of(sub), now) is SubscriptionStatus.IN_TRIAL:
                await store.record_trial(session, customer.pk, sub.plan_pk, now)
            await units.add(session, sub)
            # An end-of-period change takes effect at a boundary: nothing to prorate.
            scheduled = sub.scheduled_change is not None
            charged = None if scheduled else await proration.charge_change(
                session, before, sub, view, now
            )
            if charged is not None and prorations is not None:
                prorations.append(charged)
            await notifications.subscription_event(session, "subscription.updated", sub, now)
            if was_trial and raw.get("skipTrial"):
                await notifications.subscription_event(session, "trial.converted", sub, now)
            await _end_paid_for_trials(session, sub, existing, now)
            if contract_end is not None:
                await _end_at(session, env, customer, sub, contract_end, view, now)
            else:
                await sync_fallback(session, env, customer, sub, view, now)
            if refresh:
                await customer_entitlements.refresh(session, env, [customer.pk], now, view)
            return sub
        if behavior == "CONVERT_TO_PAID":
            replaces = current
    elif current is not None:
        # The future subscription takes over on its start date.
        end_subscription(current, start, now)
        await units.add(session, current)
        takes_over = current

    if taken is not None:  # the id of the subscription being changed names only it
        raise _duplicate(subscription_id)
    sub = Subscription(
        environment_pk=env,
        id=subscription_id or new_subscription_id(),
        customer_pk=customer.pk,
        product_pk=plan.product_pk,
        plan_pk=plan.pk,
        plan_version=plan.latest_version or 1,
        resource_id=resource_id,
        status="ACTIVE",
        billing_period=billing_period,
        start_date=start,
        trial_end_date=trial_end,
        trial_end_behavior=behavior,
        end_date=trial_end if behavior == "CANCEL" else None,
        is_parallel_trial=replaces is not None
        or (current is not None and trial_end is not None and start <= now),
        replaces_pk=next((r.pk for r in (replaces, takes_over) if r is not None), None),
        addons=addons,
        entitlements=values,
        price_overrides=overrides,
        billing_mode=mode,
        payment_terms_days=terms,
        metadata_=raw.get("metadata"),
        created_at=now,
        updated_at=now,
    )
    sub.status = status_at(Dates.of(sub), now).value
    await units.add(session, sub)
    if replaces is not None and trial_end is not None:
        replaces.end_date = trial_end  # moved back if the trial is canceled before its end
        replaces.updated_at = now
        await units.add(session, replaces)
    await notifications.subscription_event(session, "subscription.created", sub, now)
    if trial_end is not None:
        await store.record_trial(session, customer.pk, plan.pk, now)
        await notifications.subscription_event(session, "trial.started", sub, now)
    for earlier in (replaces, takes_over):  # its pending fallback may no longer be wanted
        if earlier is not None:
            await sync_fallback(session, env, customer, earlier, view, now)
    if contract_end is not None:
        await _end_at(session, env, customer, sub, contract_end, view, now)
    elif sub.end_date is not None:  # a CANCEL trial: the default plan from its end on
        await sync_fallback(session, env, customer, sub, view, now)
    if refresh:
        await customer_entitlements.refresh(session, env, [customer.pk], now, view)
    return sub


def _contract_end(raw: Mapping[str, Any], start: datetime, now: datetime) -> datetime | None:
    """`endDate` at provisioning: the contract's end, as `cancelSubscription at: DATE`."""
    end = _aware(raw.get("endDate"), ["endDate"])
    if end is not None and (end <= now or end <= start):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "endDate must be in the future and after the start",
            ["endDate"],
        )
    return end


async def _end_paid_for_trials(
    session: AsyncSession, sub: Subscription, existing: list[Subscription], now: datetime
) -> None:
    """A plan now paid for on the slot's subscription ends the parallel trials of that same
    plan: one live subscription per plan and slot (the one that pays)."""
    if sub.scheduled_change is not None:
        return
    for trial in existing:
        if (
            trial.pk != sub.pk
            and trial.product_pk == sub.product_pk
            and trial.resource_id == sub.resource_id
            and trial.plan_pk == sub.plan_pk
            and _parallel_trial_running(trial, now)
        ):
            await _move_replaced(session, trial, None, now)
            end_subscription(trial, now, now)
            await units.add(session, trial)
            await notifications.subscription_event(session, "subscription.canceled", trial, now)


def _duplicate(subscription_id: Any) -> DomainError:
    return DomainError(
        ErrorCode.DUPLICATE_ID,
        f"subscription {subscription_id!r} already exists",
        ["subscriptionId"],
    )


def apply_due_change(sub: Subscription, view: CatalogView, now: datetime) -> bool:
    """Write down an end-of-period plan change that is in force at `now` (reads already use
    it; a mutation must start from it, not from the plan it replaced). True if it did."""
    change = sub.scheduled_change
    if change is None or not change_due(Dates.of(sub), now):
        return False
    plan = view.plans_by_id.get(change["planId"])
    if plan is not None:
        sub.plan_pk, sub.plan_version = plan.pk, change["planVersion"]
        sub.addons = change.get("addons", [])
        sub.entitlements = change.get("entitlements", {})
        sub.price_overrides = change.get("priceOverrides", [])
    sub.scheduled_change = None
    sub.updated_at = now
    return True


def _parallel_trial_running(sub: Subscription, now: datetime) -> bool:
    """A parallel trial runs beside the paid subscription of its slot; once converted it *is*
    the slot's subscription (plan changes apply to it)."""
    return sub.is_parallel_trial and status_at(Dates.of(sub), now) is SubscriptionStatus.IN_TRIAL


def _change_plan(
    current: Subscription,
    plan: Package,
    view: CatalogView,
    raw: Mapping[str, Any],
    addons: list[dict[str, Any]],
    values: dict[str, Any],
    overrides: list[dict[str, Any]],
    timing: str,
    now: datetime,
) -> Subscription:
    """Move a live subscription to another plan: now, or at the end of its period."""
    if raw.get("addons") is None:
        addons = (
            [
                a
                for a in current.addons
                if plan.id
                in view.latest(view.addons_by_id[a["addonId"]]).get("compatiblePlans", [])
            ]
            if current.plan_pk != plan.pk
            else current.addons
        )
    current_plan = view.plan_by_pk(current.plan_pk)
    upgrade = current.plan_pk == plan.pk or is_upgrade(current_plan, plan, view)
    if upgrade or timing == "IMMEDIATE":
        current.plan_pk = plan.pk
        current.plan_version = plan.latest_version or 1
        current.addons = addons
        current.entitlements = values
        current.price_overrides = overrides
        current.scheduled_change = None
    else:
        current.scheduled_change = {
            "planId": plan.id,
            "planVersion": plan.latest_version,
            "addons": addons,
            "entitlements": values,
            "priceOverrides": overrides,
            "effectiveAt": period_end(current, now).isoformat(),
        }
    current.updated_at = now
    return current


async def _require_subscription(
    session: AsyncSession, env: uuid.UUID, raw: Mapping[str, Any]
) -> tuple[Subscription, Customer]:
    subscription_id = raw.get("subscriptionId")
    sub = await store.get_subscription(session, env, str(subscription_id))
    if sub is None:
        raise DomainError(
            ErrorCode.SUBSCRIPTION_NOT_FOUND,
            f"no subscription {subscription_id!r}",
            ["subscriptionId"],
        )
    customer = await store.lock_customer(session, sub.customer_pk)
    await store.reload(session, sub)
    return sub, customer


def _ended(sub: Subscription, now: datetime) -> DomainError | None:
    status = status_at(Dates.of(sub), now)
    if status in ENDED:
        return DomainError(
            ErrorCode.SUBSCRIPTION_ENDED,
            f"subscription {sub.id!r} has already ended ({status.value})",
            ["subscriptionId"],
        )
    return None


async def update_subscription(
    session: AsyncSession, env: uuid.UUID, raw: Mapping[str, Any], now: datetime
) -> Subscription:
    sub, customer = await _require_subscription(session, env, raw)
    if (error := _ended(sub, now)) is not None:
        raise error
    view = await load_catalog_view(session, env)
    apply_due_change(sub, view, now)
    before = await proration.before_change(session, sub, view, now)
    plan = view.plan_by_pk(sub.plan_pk)
    content = view.content(sub.plan_pk, sub.plan_version)
    if raw.get("addons") is not None:
        sub.addons = checked_addons(raw["addons"], plan, view)
    if raw.get("entitlements") is not None:
        sub.entitlements = checked_values(
            raw["entitlements"], content, view, await _features(session, env)
        )
    if raw.get("priceOverrides") is not None:
        sub.price_overrides = checked_overrides(raw["priceOverrides"], content, sub.addons)
    trial_end = _aware(raw.get("trialEndDate"), ["trialEndDate"])
    if trial_end is not None:
        if sub.trial_end_date is None or status_at(Dates.of(sub), now) not in (
            SubscriptionStatus.IN_TRIAL,
            SubscriptionStatus.SCHEDULED,
        ):
            raise DomainError(
                ErrorCode.INVALID_INPUT, "the subscription is not in trial", ["trialEndDate"]
            )
        if trial_end <= now or trial_end <= sub.start_date:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "the trial end must be in the future and after the start",
                ["trialEndDate"],
            )
        if sub.end_date == sub.trial_end_date:
            sub.end_date = trial_end
        await _move_replaced(session, sub, trial_end, now)
        sub.trial_end_date = trial_end
    if raw.get("metadata") is not None:
        sub.metadata_ = raw["metadata"]
    sub.updated_at = now
    await units.add(session, sub)
    await proration.charge_change(session, before, sub, view, now)
    await notifications.subscription_event(session, "subscription.updated", sub, now)
    if trial_end is not None:
        await sync_fallback(session, env, customer, sub, view, now)  # follows the trial's end
    await customer_entitlements.refresh(session, env, [customer.pk], now, view)
    return sub


async def _move_replaced(
    session: AsyncSession, trial: Subscription, end: datetime | None, now: datetime
) -> None:
    """Keep the paid subscription a parallel trial replaces in step with the trial's end."""
    if trial.replaces_pk is None or not trial.is_parallel_trial:
        return
    subs = (await store.subscriptions_of(session, [trial.customer_pk]))[trial.customer_pk]
    for other in subs:
        if other.pk == trial.replaces_pk and other.canceled_at is None:
            other.end_date = end
            other.updated_at = now
            await units.add(session, other)


async def _resume_taken_over(session: AsyncSession, future: Subscription, now: datetime) -> None:
    """A future subscription canceled before its start gives its slot back to the subscription
    it was going to end on that date."""
    if future.replaces_pk is None:
        return
    subs = (await store.subscriptions_of(session, [future.customer_pk]))[future.customer_pk]
    for other in subs:
        if other.pk == future.replaces_pk and other.end_date == future.start_date:
            other.end_date = None
            other.canceled_at = None
            other.status = status_at(Dates.of(other), now).value
            other.updated_at = now
            await units.add(session, other)


async def cancel_subscription(
    session: AsyncSession, env: uuid.UUID, raw: Mapping[str, Any], now: datetime
) -> Subscription:
    sub, customer = await _require_subscription(session, env, raw)
    if (error := _ended(sub, now)) is not None:
        raise error
    view = await load_catalog_view(session, env)
    apply_due_change(sub, view, now)
    at = rules.check_choice(
        raw.get("at") or "IMMEDIATE", tuple(CancelAt), ["at"]
    )
    if at == "IMMEDIATE":
        end = now
    elif at == "END_OF_PERIOD":
        end = period_end(sub, now) if sub.start_date <= now else now
    else:
        date = _aware(raw.get("date"), ["date"])
        if date is None or date <= now:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "a cancellation date must be in the future", ["date"]
            )
        if date < sub.start_date:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "a cancellation date must not be before the start",
                ["date"],
            )
        end = date
    await _end_at(session, env, customer, sub, end, view, now)
    await customer_entitlements.refresh(session, env, [customer.pk], now, view)
    return sub


def expires_with_trial(sub: Subscription) -> bool:
    """A CANCEL trial: it ends (EXPIRED) when its trial does."""
    return (
        sub.trial_end_behavior == "CANCEL"
        and sub.trial_end_date is not None
        and sub.end_date == sub.trial_end_date
    )


async def _end_at(
    session: AsyncSession,
    env: uuid.UUID,
    customer: Customer,
    sub: Subscription,
    end: datetime,
    view: CatalogView,
    now: datetime,
) -> None:
    """End a live subscription at `end` (now or later): the cancellation rules, shared by
    `cancelSubscription` and `endDate` at provisioning."""
    if expires_with_trial(sub) and sub.end_date is not None:
        end = min(end, sub.end_date)  # a CANCEL trial ends with its trial anyway (EXPIRED)
    if sub.is_parallel_trial and sub.trial_end_date is not None and end <= sub.trial_end_date:
        await _move_replaced(session, sub, None, now)  # the paid subscription carries on
    elif not sub.is_parallel_trial and end <= sub.start_date:
        await _resume_taken_over(session, sub, now)  # it never starts: the current one goes on
    end_subscription(sub, end, now)
    await units.add(session, sub)
    await notifications.subscription_event(session, "subscription.canceled", sub, now)
    await sync_fallback(session, env, customer, sub, view, now)


async def apply_due_changes(session: AsyncSession, now: datetime) -> int:
    """Write down what the clock decided: statuses, end-of-period plan changes, default-plan
    fallbacks after trials expire, and the events that go with them. Reads never depend on
    this having run. Locks each customer first (like every mutation), skipping customers a
    mutation holds right now: no waiting, no deadlock."""
    due = await store.subscriptions_due(session, now)
    due_by_customer: dict[uuid.UUID, set[uuid.UUID]] = {}
    for sub in due:
        due_by_customer.setdefault(sub.customer_pk, set()).add(sub.pk)
    touched: dict[uuid.UUID, set[uuid.UUID]] = {}
    views: dict[uuid.UUID, CatalogView] = {}
    moved = 0
    for customer_pk in sorted(due_by_customer):
        customer = await store.try_lock_customer(session, customer_pk)
        if customer is None:
            continue
        env = customer.environment_pk
        view = views.get(env) or await load_catalog_view(session, env)
        views[env] = view
        for sub in await store.fresh_subscriptions(session, customer_pk):
            if sub.pk not in due_by_customer[customer_pk]:
                continue
            changed_plan = apply_due_change(sub, view, now)
            before = sub.status
            sub.status = status_at(Dates.of(sub), now).value
            sub.updated_at = now
            await units.add(session, sub)
            moved += 1
            for event_type in _transition_events(before, sub.status, bool(changed_plan)):
                await notifications.subscription_event(session, event_type, sub, now)
            if sub.status == "EXPIRED" and before != "EXPIRED":
                await sync_fallback(session, env, customer, sub, view, now)  # if not made yet
        touched.setdefault(env, set()).add(customer_pk)
    for env, customers in touched.items():
        await customer_entitlements.refresh(session, env, sorted(customers), now, views[env])
    return moved


def _transition_events(before: str, after: str, changed_plan: bool) -> list[str]:
    events = []
    if before == "IN_TRIAL" and after == "ACTIVE":
        events.append("trial.converted")
    elif before != "EXPIRED" and after == "EXPIRED":
        events.append("trial.expired")
    if changed_plan or (before != after and "trial.converted" not in events):
        events.append("subscription.updated")
    return events
