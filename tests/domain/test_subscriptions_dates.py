"""Pure rules of app.domain.subscriptions.dates: status at an instant, the current billing period,
scheduled changes, and the next boundary (examples, then properties with hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.periods import Period
from app.domain.subscriptions.dates import (
    ENDED,
    LIVE,
    Dates,
    SubscriptionStatus,
    change_due,
    current_period,
    next_boundary,
    status_at,
)

S = SubscriptionStatus
T0 = datetime(2024, 1, 31, 9, 30, tzinfo=UTC)
DAY = timedelta(days=1)
TINY = timedelta(microseconds=1)


def change_at(at: datetime) -> dict[str, Any]:
    return {"planId": "free", "planVersion": 1, "effectiveAt": at.isoformat()}


# --- examples --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dates", "at", "expected"),
    [
        (Dates(T0), T0 - TINY, S.SCHEDULED),
        (Dates(T0), T0, S.ACTIVE),
        (Dates(T0, trial_end_date=T0 + DAY), T0, S.IN_TRIAL),
        (Dates(T0, trial_end_date=T0 + DAY), T0 + DAY, S.ACTIVE),
        (Dates(T0, end_date=T0 + DAY), T0 + DAY - TINY, S.ACTIVE),
        (Dates(T0, end_date=T0 + DAY), T0 + DAY, S.CANCELED),
        # A trial that ends by canceling: EXPIRED at its end.
        (Dates(T0, T0 + DAY, T0 + DAY, "CANCEL"), T0 + DAY, S.EXPIRED),
        # The same trial canceled earlier by hand: CANCELED.
        (Dates(T0, T0 + DAY / 2, T0 + DAY, "CANCEL"), T0 + DAY, S.CANCELED),
        (Dates(T0, T0 + 9 * DAY, T0 + DAY, "CONVERT_TO_PAID"), T0 + 2 * DAY, S.ACTIVE),
        # Ended before it started (a future subscription canceled): never live.
        (Dates(T0, end_date=T0), T0 - DAY, S.SCHEDULED),
        (Dates(T0, end_date=T0), T0, S.CANCELED),
    ],
)
def test_status_at(dates: Dates, at: datetime, expected: SubscriptionStatus) -> None:
    assert status_at(dates, at) is expected


def test_dates_of_a_row() -> None:
    row = SimpleNamespace(
        start_date=T0,
        end_date=None,
        trial_end_date=T0 + DAY,
        trial_end_behavior="CANCEL",
        scheduled_change=None,
        billing_period="ANNUALLY",
    )
    assert Dates.of(row) == Dates(T0, None, T0 + DAY, "CANCEL", None, "ANNUALLY")


def test_current_period_in_and_after_a_trial() -> None:
    dates = Dates(T0, trial_end_date=T0 + 14 * DAY)
    assert current_period(dates, T0 + DAY) == Period(T0, T0 + 14 * DAY)
    trial_end = T0 + 14 * DAY  # Feb 14: paid periods count from here
    assert current_period(dates, trial_end) == Period(trial_end, trial_end.replace(month=3))
    assert current_period(dates, T0 - TINY) is None


def test_current_period_month_end_anchor() -> None:
    dates = Dates(T0)  # Jan 31
    ends = [datetime(2024, m, d, 9, 30, tzinfo=UTC) for m, d in [(2, 29), (3, 31), (4, 30)]]
    assert current_period(dates, T0) == Period(T0, ends[0])
    assert current_period(dates, ends[0]) == Period(ends[0], ends[1])
    assert current_period(dates, ends[2] - TINY) == Period(ends[1], ends[2])
    non_leap = Dates(T0.replace(year=2023))
    feb_28 = datetime(2023, 2, 28, 9, 30, tzinfo=UTC)
    assert current_period(non_leap, non_leap.start_date) == Period(non_leap.start_date, feb_28)


def test_current_period_annual_and_ended() -> None:
    dates = Dates(datetime(2024, 2, 29, tzinfo=UTC), billing_period="ANNUALLY")
    period = current_period(dates, datetime(2024, 6, 1, tzinfo=UTC))
    assert period == Period(dates.start_date, datetime(2025, 2, 28, tzinfo=UTC))
    ended = Dates(T0, end_date=T0 + DAY)
    assert current_period(ended, T0 + DAY) is None


def test_change_due() -> None:
    dates = Dates(T0, scheduled_change=change_at(T0 + DAY))
    assert not change_due(dates, T0 + DAY - TINY)
    assert change_due(dates, T0 + DAY)
    assert not change_due(Dates(T0), T0 + 99 * DAY)


@pytest.mark.parametrize(
    ("dates", "now", "expected"),
    [
        (Dates(T0), T0 - DAY, T0),
        (Dates(T0), T0, None),
        (Dates(T0, T0 + 9 * DAY, T0 + DAY), T0, T0 + DAY),
        (Dates(T0, T0 + 9 * DAY, T0 + DAY), T0 + DAY, T0 + 9 * DAY),
        (Dates(T0, scheduled_change=change_at(T0 + 3 * DAY)), T0, T0 + 3 * DAY),
        # A trial canceled by hand: its trial end no longer changes anything.
        (Dates(T0, T0 + DAY, T0 + 5 * DAY, "CANCEL"), T0 + 2 * DAY, None),
        # A scheduled change after the end never applies.
        (Dates(T0, T0 + DAY, scheduled_change=change_at(T0 + 2 * DAY)), T0 + DAY, None),
    ],
)
def test_next_boundary(dates: Dates, now: datetime, expected: datetime | None) -> None:
    assert next_boundary(dates, now) == expected


# --- properties ------------------------------------------------------------------------------

# Instants on a coarse grid around T0, so that equal dates (the edge cases) are frequent.
instants = st.integers(min_value=-6, max_value=40).map(lambda n: T0 + n * DAY / 2)


@st.composite
def subscription_dates(draw: st.DrawFn) -> Dates:
    """Dates as the service stores them: a trial ends after the start (refused otherwise),
    and an end before the start moves the start back to it (a future subscription
    canceled before it began)."""
    start = draw(instants)
    trial_end = draw(st.none() | instants.filter(lambda t: t > start))
    behavior = draw(st.sampled_from([None, "CONVERT_TO_PAID", "CANCEL"]))
    if trial_end is not None and behavior is None:
        behavior = "CONVERT_TO_PAID"
    if trial_end is None:
        behavior = None
    end = draw(st.none() | instants | st.just(trial_end))
    if end is not None and end < start:
        start = end
        trial_end, behavior = None, None
    change = draw(st.none() | instants.map(change_at))
    period = draw(st.sampled_from(["MONTHLY", "ANNUALLY"]))
    return Dates(start, end, trial_end, behavior, change, period)


RANK = {S.SCHEDULED: 0, S.IN_TRIAL: 1, S.ACTIVE: 2, S.CANCELED: 3, S.EXPIRED: 3}


def _interesting(d: Dates) -> list[datetime]:
    """Every date of the subscription, and the instants just around them."""
    dates = [d.start_date, d.end_date, d.trial_end_date]
    if d.scheduled_change is not None:
        dates.append(datetime.fromisoformat(d.scheduled_change["effectiveAt"]))
    return sorted({t + e for t in dates if t is not None for e in (-TINY, timedelta(0), TINY)})


@given(subscription_dates(), instants, instants)
def test_status_never_goes_backwards(d: Dates, a: datetime, b: datetime) -> None:
    early, late = sorted([a, b])
    before, after = status_at(d, early), status_at(d, late)
    assert RANK[before] <= RANK[after]
    if before in ENDED:
        assert after is before  # an ended subscription stays ended the same way


@given(subscription_dates())
def test_status_sequence_is_monotone_across_every_date(d: Dates) -> None:
    statuses = [status_at(d, t) for t in _interesting(d)]
    assert [RANK[s] for s in statuses] == sorted(RANK[s] for s in statuses)
    assert S.EXPIRED not in statuses or d.trial_end_behavior == "CANCEL"


@given(subscription_dates(), instants)
def test_next_boundary_is_the_next_change(d: Dates, now: datetime) -> None:
    boundary = next_boundary(d, now)
    status = status_at(d, now)
    later = [t for t in _interesting(d) if t > now]
    if boundary is None:  # nothing read from the subscription ever changes again
        assert all(status_at(d, t) is status for t in later)
        assert all(
            change_due(d, t) == change_due(d, now) or status_at(d, t) not in LIVE for t in later
        )
        return
    assert boundary > now
    # Nothing changes before it ...
    for t in [now, boundary - TINY, *[t for t in later if t < boundary]]:
        assert status_at(d, t) is status
        assert change_due(d, t) == change_due(d, now) or status not in LIVE
    # ... and something does at it: the status, or a plan change while live.
    changed_status = status_at(d, boundary) is not status
    changed_plan = change_due(d, boundary) != change_due(d, now)
    assert changed_status or (changed_plan and status_at(d, boundary) in LIVE)


@given(subscription_dates(), instants)
def test_current_period_contains_now_when_live(d: Dates, now: datetime) -> None:
    period = current_period(d, now)
    assert (period is not None) == (status_at(d, now) in LIVE)
    if period is not None:
        assert period.contains(now)
        assert period.start >= d.start_date
