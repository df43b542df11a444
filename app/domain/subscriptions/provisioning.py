"""Provisioning customers and subscriptions: the rules of who may hold what, and plan changes.

Every function runs in the caller's transaction, takes the customer's row lock first, and
ends by recomputing the customer's effective entitlements (so checks are right at once).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.catalog import rules
from app.domain.checks import customer_entitlements
from app.domain.checks.customer_entitlements import CatalogView, load_catalog_view
from app.domain.subscriptions.dates import (
    ENDED,
    Dates,
    SubscriptionStatus,
    current_period,
    end_subscription,
    status_at,
)
from app.errors import DomainError, ErrorCode
from app.models import Customer, Package, Subscription
from app.store import customers as store
from app.store import units

CUSTOMER_KEYS = ("customerId", "name", "email", "metadata")


async def upsert_customer(
    session: AsyncSession, env: uuid.UUID, raw: Mapping[str, Any], now: datetime
) -> tuple[Customer, bool]:
    """Create the customer, or update the fields given. Returns (customer, created).
    Provisioning an archived customer brings it back (a returning customer)."""
    customer_id = rules.check_id(raw.get("customerId"), ["customerId"], "customerId")
    customer = await store.get_customer(session, env, customer_id, lock=True)
    created = customer is None
    if customer is None:
        customer = Customer(environment_pk=env, id=customer_id, created_at=now)
    for key, attr in (("name", "name"), ("email", "email")):
        if raw.get(key) is not None:
            setattr(customer, attr, rules.check_name(raw[key], [key]))
    if raw.get("metadata") is not None:
        if not isinstance(raw["metadata"], dict):
            raise DomainError(ErrorCode.INVALID_INPUT, "metadata must be an object", ["metadata"])
        customer.metadata_ = raw["metadata"]
    if raw.get("billingDetails") is not None:
        customer.billing_details = checked_billing_details(raw["billingDetails"])
    customer.archived_at = None
    customer.updated_at = now
    await units.add(session, customer)
    return customer, created


BILLING_DETAIL_LIMITS = {"legalName": 200, "address": 1000, "taxId": 100}


def checked_billing_details(raw: Any) -> dict[str, str] | None:
    """A customer's billing details (legal name, address, tax id), replaced as a whole:
    empty values are left out; none at all is None."""
    if not isinstance(raw, Mapping):
        raise DomainError(ErrorCode.INVALID_INPUT, "must be an object", ["billingDetails"])
    out: dict[str, str] = {}
    for key, value in raw.items():
        limit = BILLING_DETAIL_LIMITS.get(key)
        if limit is None:
            raise DomainError(
                ErrorCode.INVALID_INPUT, f"unknown option {key!r}", ["billingDetails", key]
            )
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > limit:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"must be a string of at most {limit} characters",
                ["billingDetails", key],
            )
        if value.strip():
            out[key] = value.strip()
    return out or None


async def require_customer(session: AsyncSession, env: uuid.UUID, customer_id: str) -> Customer:
    customer = await store.get_customer(session, env, customer_id, lock=True)
    if customer is None:
        raise DomainError(
            ErrorCode.CUSTOMER_NOT_FOUND, f"no customer {customer_id!r}", ["customerId"]
        )
    return customer


async def archive_customer(
    session: AsyncSession, env: uuid.UUID, customer_id: str, now: datetime
) -> Customer:
    """Archive: every check for the customer answers CUSTOMER_ARCHIVED; live subscriptions
    are canceled now."""
    customer = await require_customer(session, env, customer_id)
    if customer.archived_at is None:
        customer.archived_at = now
        customer.updated_at = now
        subs = (await store.subscriptions_of(session, [customer.pk]))[customer.pk]
        for sub in subs:
            if status_at(Dates.of(sub), now) not in ENDED:
                end_subscription(sub, now, now)
        await units.add(session, customer, *subs)
        await customer_entitlements.refresh(session, env, [customer.pk], now)
    return customer


def convert_trial_now(sub: Subscription, now: datetime) -> None:
    """End a running trial now, as a conversion: paid from now (billing periods count from
    here), and a CANCEL trial no longer ends with its trial."""
    if sub.end_date is not None and sub.end_date == sub.trial_end_date:
        sub.end_date = None
    sub.trial_end_date = max(now, sub.start_date)
    sub.trial_end_behavior = "CONVERT_TO_PAID"
    sub.status = status_at(Dates.of(sub), now).value
    sub.updated_at = now


def expire_trial_now(sub: Subscription, now: datetime) -> None:
    """End a running trial now without converting: access ends (EXPIRED)."""
    sub.trial_end_date = sub.end_date = max(now, sub.start_date)
    sub.trial_end_behavior = "CANCEL"
    sub.scheduled_change = None
    sub.status = status_at(Dates.of(sub), now).value
    sub.updated_at = now


def new_subscription_id() -> str:
    return "sub_" + secrets.token_hex(10)


def require_plan(view: CatalogView, plan_id: Any, path: list[str | int]) -> Package:
    plan = view.plans_by_id.get(plan_id) if isinstance(plan_id, str) else None
    if plan is None or plan.latest_version is None:
        raise DomainError(ErrorCode.PLAN_NOT_FOUND, f"no published plan {plan_id!r}", path)
    if plan.archived_at is not None:
        raise DomainError(ErrorCode.ARCHIVED, f"plan {plan_id!r} is archived", path)
    return plan


def period_end(sub: Subscription, now: datetime) -> datetime:
    period = current_period(Dates.of(sub), now)
    if period is None:
        return now
    return period.end


def trial_window(
    raw: Mapping[str, Any],
    plan_content: Mapping[str, Any],
    start: datetime,
    default_allowed: bool = True,
) -> tuple[datetime | None, str | None]:
    """(trial end, end behaviour) from the request's trial or the plan's default (when
    `default_allowed`: not on a paying subscription's plan change, not a second time)."""
    if raw.get("skipTrial"):
        return None, None
    trial = raw.get("trial")
    default = plan_content.get("trial")
    if trial is None and not default_allowed:
        return None, None
    if trial is None and default is None:
        return None, None
    behavior = (
        (trial or {}).get("endBehavior") or (default or {}).get("endBehavior") or "CONVERT_TO_PAID"
    )
    rules.check_choice(behavior, rules.TRIAL_END_BEHAVIORS, ["trial", "endBehavior"])
    if trial is not None and trial.get("endDate") is not None:
        end = trial["endDate"]
        if not isinstance(end, datetime) or end <= start:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "the trial must end after it starts", ["trial", "endDate"]
            )
        return end, behavior
    days = (trial or {}).get("days")
    if days is None:  # an explicit 0 is refused below, not replaced by the plan's default
        days = (default or {}).get("days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= rules.MAX_TRIAL_DAYS:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"trial days must be from 1 to {rules.MAX_TRIAL_DAYS}",
            ["trial", "days"],
        )
    return start + timedelta(days=days), behavior


def is_live(sub: Subscription, now: datetime) -> bool:
    return status_at(Dates.of(sub), now) not in ENDED


def is_paying(sub: Subscription, now: datetime) -> bool:
    """Active (past any trial): a plan change of it replaces it, a trial runs beside it."""
    return status_at(Dates.of(sub), now) is SubscriptionStatus.ACTIVE


def pays_for_plan(sub: Subscription, view: CatalogView, now: datetime) -> bool:
    """Active on a plan that is not FREE: its plan changes never start a default trial."""
    content = view.content(sub.plan_pk, sub.plan_version)
    return is_paying(sub, now) and content.get("pricingType") != "FREE"


async def view_for(session: AsyncSession, env: uuid.UUID) -> CatalogView:
    return await load_catalog_view(session, env)
