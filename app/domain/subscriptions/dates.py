"""Subscription rules that depend only on a subscription's dates: its status at any instant,
its current billing period, the plan in force, and when any of that next changes.

Because status is a pure function of stored dates and "now", reads are right at every
instant without waiting for a job; the background job only writes the status column down
so lists and webhooks see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from app.domain.periods import BillingPeriod, Period, billing_period_for

if TYPE_CHECKING:
    from app.models import Subscription


class SubscriptionStatus(StrEnum):
    SCHEDULED = "SCHEDULED"  # starts in the future
    IN_TRIAL = "IN_TRIAL"
    ACTIVE = "ACTIVE"
    CANCELED = "CANCELED"  # ended by a cancellation (or replaced)
    EXPIRED = "EXPIRED"  # a trial that ended without converting


class EndTrialAction(StrEnum):
    """How a running trial is ended now (endTrial)."""

    CONVERT = "CONVERT"  # paid from now
    CANCEL = "CANCEL"  # access ends now (EXPIRED)


class BillingMode(StrEnum):
    EXTERNAL = "EXTERNAL"  # billed elsewhere: allot only answers entitlements
    INVOICE = "INVOICE"  # allot issues the invoices (app.domain.billing.invoices)


class ChangeTiming(StrEnum):
    """When a plan change that is a downgrade takes effect."""

    IMMEDIATE = "IMMEDIATE"
    END_OF_PERIOD = "END_OF_PERIOD"


class CancelAt(StrEnum):
    """When a cancellation takes effect."""

    IMMEDIATE = "IMMEDIATE"
    END_OF_PERIOD = "END_OF_PERIOD"
    DATE = "DATE"  # at the date given


LIVE = (SubscriptionStatus.IN_TRIAL, SubscriptionStatus.ACTIVE)
ENDED = (SubscriptionStatus.CANCELED, SubscriptionStatus.EXPIRED)


@dataclass(frozen=True)
class Dates:
    """What decides a subscription's status (a view of the row, easy to build in tests)."""

    start_date: datetime
    end_date: datetime | None = None
    trial_end_date: datetime | None = None
    trial_end_behavior: str | None = None
    scheduled_change: dict[str, Any] | None = None
    billing_period: str = "MONTHLY"

    @classmethod
    def of(cls, row: Any) -> Dates:
        return cls(
            start_date=row.start_date,
            end_date=row.end_date,
            trial_end_date=row.trial_end_date,
            trial_end_behavior=row.trial_end_behavior,
            scheduled_change=row.scheduled_change,
            billing_period=row.billing_period,
        )


def _expires_with_trial(d: Dates) -> bool:
    return (
        d.trial_end_date is not None
        and d.trial_end_behavior == "CANCEL"
        and d.end_date is not None
        and d.end_date == d.trial_end_date
    )


def status_at(d: Dates, now: datetime) -> SubscriptionStatus:
    """The status at `now`: scheduled before the start; ended from the end date on (EXPIRED
    when a trial ran out without converting); in trial until the trial ends; else active."""
    if d.end_date is not None and now >= d.end_date:
        return SubscriptionStatus.EXPIRED if _expires_with_trial(d) else SubscriptionStatus.CANCELED
    if now < d.start_date:
        return SubscriptionStatus.SCHEDULED
    if d.trial_end_date is not None and now < d.trial_end_date:
        return SubscriptionStatus.IN_TRIAL
    return SubscriptionStatus.ACTIVE


def billing_anchor(d: Dates) -> datetime:
    """Paid periods count from the trial's end when there was a trial, else from the start."""
    return d.trial_end_date or d.start_date


def current_period(d: Dates, now: datetime) -> Period | None:
    """The billing period containing `now` (the trial itself while in trial); None when the
    subscription has not started or has ended."""
    status = status_at(d, now)
    if status not in LIVE:
        return None
    if status is SubscriptionStatus.IN_TRIAL:
        assert d.trial_end_date is not None
        return Period(d.start_date, d.trial_end_date)
    return billing_period_for(now, BillingPeriod(d.billing_period), billing_anchor(d))


def change_due(d: Dates, now: datetime) -> bool:
    """Whether a scheduled (end-of-period) plan change is in force at `now`."""
    change = d.scheduled_change
    return change is not None and datetime.fromisoformat(change["effectiveAt"]) <= now


def next_boundary(d: Dates, now: datetime) -> datetime | None:
    """The next instant after `now` at which anything read from this subscription changes:
    its status, or its plan (a scheduled change taking effect while it is live). Dates that
    change nothing (the trial end of a trial canceled earlier, a change after the end) are
    not boundaries. The status only changes at one of the dates, so the first date with
    another status is the first instant the status changes."""
    status = status_at(d, now)
    candidates = [
        t
        for t in (d.start_date, d.end_date, d.trial_end_date)
        if t is not None and t > now and status_at(d, t) is not status
    ]
    if d.scheduled_change is not None:
        effective = datetime.fromisoformat(d.scheduled_change["effectiveAt"])
        if effective > now and status_at(d, effective) in LIVE:
            candidates.append(effective)
    return min(candidates, default=None)


def end_subscription(sub: Subscription, at: datetime, now: datetime) -> None:
    """End `sub` at `at` (now when `at` is past), as a cancellation: a subscription that had
    not started yet ends before it starts, and a scheduled change no longer happens."""
    sub.end_date = max(at, sub.start_date) if at > now else now
    if sub.start_date > sub.end_date:
        sub.start_date = sub.end_date
    sub.canceled_at = now
    sub.scheduled_change = None
    sub.status = status_at(Dates.of(sub), now).value
    sub.updated_at = now
