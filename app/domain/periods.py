"""Usage and billing periods.

Pure, framework-free date arithmetic. Every datetime is timezone-aware UTC: naive datetimes are
rejected with ``ValueError``; aware datetimes in other zones are converted to UTC.

A *schedule* is an origin instant plus a step (hour, day, week, month, year). Its n-th boundary is
``add_periods(origin, step, n)`` for every integer n (negative too), and period n is the half-open
interval ``[boundary(n), boundary(n + 1))``. Month and year steps are always computed from the
origin (never chained), with the day clamped to the length of the target month, so an origin of
Jan 31 gives boundaries Feb 28/29, Mar 31, Apr 30, ...

* ``SUBSCRIPTION_START`` anchor: the origin is the subscription start (its time of day is kept).
* ``CALENDAR`` anchor: the origin is 2001-01-01T00:00Z, a Monday and the first of a month and a
  year, so the same arithmetic yields UTC hours, midnights, ISO weeks (Monday 00:00), the 1st of
  each month and Jan 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import pairwise

from dateutil.relativedelta import relativedelta

__all__ = [
    "MAX_PERIODS",
    "BillingPeriod",
    "Period",
    "ResetAnchor",
    "ResetPeriod",
    "add_periods",
    "billing_period_for",
    "periods_between",
    "usage_period_for",
]

#: Upper bound on the number of periods ``periods_between`` will return.
MAX_PERIODS = 10_000


class ResetPeriod(StrEnum):
    HOUR = "HOUR"
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"
    YEAR = "YEAR"


class ResetAnchor(StrEnum):
    SUBSCRIPTION_START = "SUBSCRIPTION_START"
    CALENDAR = "CALENDAR"


class BillingPeriod(StrEnum):
    MONTHLY = "MONTHLY"
    ANNUALLY = "ANNUALLY"


_FIXED_STEPS: dict[ResetPeriod, timedelta] = {
    ResetPeriod.HOUR: timedelta(hours=1),
    ResetPeriod.DAY: timedelta(days=1),
    ResetPeriod.WEEK: timedelta(weeks=1),
}

_BILLING_STEPS: dict[BillingPeriod, ResetPeriod] = {
    BillingPeriod.MONTHLY: ResetPeriod.MONTH,
    BillingPeriod.ANNUALLY: ResetPeriod.YEAR,
}

# Monday, Jan 1st: aligned with hours, days, ISO weeks, months and years at once.
_CALENDAR_ORIGIN = datetime(2001, 1, 1, tzinfo=UTC)

_ONE_MICROSECOND = timedelta(microseconds=1)


def _to_utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Period:
    """Half-open interval ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        start = _to_utc(self.start, "start")
        end = _to_utc(self.end, "end")
        if not start < end:
            raise ValueError(f"period start {start.isoformat()} must be before {end.isoformat()}")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @classmethod
    def trusted(cls, start: datetime, end: datetime) -> Period:
        """A period from bounds already known to be UTC and ordered (no checks: computing a
        year of hourly periods spent most of its time checking them)."""
        period = object.__new__(cls)
        object.__setattr__(period, "start", start)
        object.__setattr__(period, "end", end)
        return period

    def contains(self, instant: datetime) -> bool:
        instant = _to_utc(instant, "instant")
        return self.start <= instant < self.end

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


def _boundary(origin: datetime, step: ResetPeriod, n: int) -> datetime:
    """n-th boundary of the schedule (origin already UTC, step already a ResetPeriod)."""
    try:
        fixed = _FIXED_STEPS.get(step)
        if fixed is not None:
            result: datetime = origin + fixed * n
        elif step is ResetPeriod.MONTH:
            result = origin + relativedelta(months=n)
        else:
            result = origin + relativedelta(years=n)
    except OverflowError as exc:
        raise ValueError(f"{n} x {step.value} from {origin.isoformat()} is out of range") from exc
    return result


def _index_of(instant: datetime, origin: datetime, step: ResetPeriod) -> int:
    """Index n of the period containing ``instant``: boundary(n) <= instant < boundary(n + 1).

    Estimated in O(1), then corrected; for months/years the estimate is the number of calendar
    months/years between the two, which is at most one too high (boundary n lies in the same
    calendar month as the instant and may be after it).
    """
    fixed = _FIXED_STEPS.get(step)
    if fixed is not None:
        return (instant - origin) // fixed
    if step is ResetPeriod.MONTH:
        n = (instant.year - origin.year) * 12 + (instant.month - origin.month)
    else:
        n = instant.year - origin.year
    while _boundary(origin, step, n) > instant:
        n -= 1
    while _boundary(origin, step, n + 1) <= instant:  # defensive: never taken
        n += 1
    return n


def _schedule(
    reset_period: ResetPeriod, anchor: ResetAnchor, anchor_time: datetime | None
) -> tuple[datetime, ResetPeriod]:
    step = ResetPeriod(reset_period)
    if ResetAnchor(anchor) is ResetAnchor.CALENDAR:
        return _CALENDAR_ORIGIN, step
    if anchor_time is None:
        raise ValueError("anchor_time is required for the SUBSCRIPTION_START anchor")
    return _to_utc(anchor_time, "anchor_time"), step


def add_periods(anchor_time: datetime, reset_period: ResetPeriod, n: int) -> datetime:
    """The n-th period boundary after (n < 0: before) ``anchor_time``, in UTC.

    Months and years are added to the original anchor with the day clamped to the target month:
    ``add_periods(Jan 31, MONTH, 1) == Feb 28/29``, ``add_periods(Jan 31, MONTH, 2) == Mar 31``.
    """
    return _boundary(_to_utc(anchor_time, "anchor_time"), ResetPeriod(reset_period), n)


def usage_period_for(
    instant: datetime,
    reset_period: ResetPeriod,
    anchor: ResetAnchor = ResetAnchor.SUBSCRIPTION_START,
    anchor_time: datetime | None = None,
) -> Period:
    """The usage period containing ``instant``.

    ``anchor_time`` (the subscription start) is required for ``SUBSCRIPTION_START`` and ignored
    for ``CALENDAR``. Instants before the anchor get the (virtual) periods before it.
    """
    origin, step = _schedule(reset_period, anchor, anchor_time)
    n = _index_of(_to_utc(instant, "instant"), origin, step)
    return Period(_boundary(origin, step, n), _boundary(origin, step, n + 1))


def billing_period_for(
    instant: datetime, billing_period: BillingPeriod, anchor_time: datetime
) -> Period:
    """The billing period containing ``instant``, anchored on the subscription start."""
    step = _BILLING_STEPS[BillingPeriod(billing_period)]
    return usage_period_for(instant, step, ResetAnchor.SUBSCRIPTION_START, anchor_time)


def periods_between(
    start: datetime,
    end: datetime,
    reset_period: ResetPeriod,
    anchor: ResetAnchor = ResetAnchor.SUBSCRIPTION_START,
    anchor_time: datetime | None = None,
) -> list[Period]:
    """All periods overlapping ``[start, end)``, in order; empty if ``start == end``.

    The first period contains ``start`` (it may begin before it) and the last contains the last
    instant before ``end``. Raises ``ValueError`` if ``end < start`` or if more than
    ``MAX_PERIODS`` periods would be returned.
    """
    origin, step = _schedule(reset_period, anchor, anchor_time)
    start = _to_utc(start, "start")
    end = _to_utc(end, "end")
    if end < start:
        raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
    if end == start:
        return []
    first = _index_of(start, origin, step)
    last = _index_of(end - _ONE_MICROSECOND, origin, step)
    count = last - first + 1
    if count > MAX_PERIODS:
        raise ValueError(
            f"{count} {step.value} periods between {start.isoformat()} and {end.isoformat()}"
            f" exceed the maximum of {MAX_PERIODS}"
        )
    fixed = _FIXED_STEPS.get(step)
    if fixed is not None:  # hours, days, weeks: each boundary one step after the last
        at = _boundary(origin, step, first)
        _boundary(origin, step, last + 1)  # the last one exists (raises when out of range)
        bounds = [at + fixed * i for i in range(count + 1)]
    else:
        bounds = [_boundary(origin, step, n) for n in range(first, last + 2)]
    # The boundaries are UTC and increasing: each pair is a valid Period as it is.
    return [Period.trusted(a, b) for a, b in pairwise(bounds)]
