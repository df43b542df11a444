"""Tests for app.domain.periods: table tests for the documented cases, property tests for the
invariants (containment, tiling, clamping, lengths) against an independent reference."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.periods import (
    MAX_PERIODS,
    BillingPeriod,
    Period,
    ResetAnchor,
    ResetPeriod,
    add_periods,
    billing_period_for,
    periods_between,
    usage_period_for,
)

SUB = ResetAnchor.SUBSCRIPTION_START
CAL = ResetAnchor.CALENDAR
US = timedelta(microseconds=1)


def utc(
    year: int,
    month: int = 1,
    day: int = 1,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


# --------------------------------------------------------------------------- table tests


@pytest.mark.parametrize(
    ("anchor", "n", "expected"),
    [
        (utc(2024, 1, 31), 1, utc(2024, 2, 29)),
        (utc(2024, 1, 31), 2, utc(2024, 3, 31)),
        (utc(2024, 1, 31), 3, utc(2024, 4, 30)),
        (utc(2024, 1, 31), 4, utc(2024, 5, 31)),
        (utc(2024, 1, 31), 13, utc(2025, 2, 28)),
        (utc(2024, 1, 31), -1, utc(2023, 12, 31)),
        (utc(2024, 1, 31), -2, utc(2023, 11, 30)),
        (utc(2023, 1, 31), 1, utc(2023, 2, 28)),
        (utc(2023, 1, 31), 2, utc(2023, 3, 31)),
        (utc(2024, 1, 30), 1, utc(2024, 2, 29)),
        (utc(2024, 1, 30), 2, utc(2024, 3, 30)),
        (utc(2024, 1, 31, 13, 45, 10, 500), 1, utc(2024, 2, 29, 13, 45, 10, 500)),
        (utc(2024, 1, 15), 0, utc(2024, 1, 15)),
    ],
)
def test_add_months_clamps_from_the_original_anchor(
    anchor: datetime, n: int, expected: datetime
) -> None:
    assert add_periods(anchor, ResetPeriod.MONTH, n) == expected


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, utc(2025, 2, 28, 9)),
        (2, utc(2026, 2, 28, 9)),
        (3, utc(2027, 2, 28, 9)),
        (4, utc(2028, 2, 29, 9)),
        (-1, utc(2023, 2, 28, 9)),
        (-4, utc(2020, 2, 29, 9)),
    ],
)
def test_add_years_from_feb_29(n: int, expected: datetime) -> None:
    assert add_periods(utc(2024, 2, 29, 9), ResetPeriod.YEAR, n) == expected


def test_fixed_length_steps() -> None:
    anchor = utc(2024, 3, 9, 22, 30)
    assert add_periods(anchor, ResetPeriod.HOUR, 3) == utc(2024, 3, 10, 1, 30)
    assert add_periods(anchor, ResetPeriod.DAY, -10) == utc(2024, 2, 28, 22, 30)
    assert add_periods(anchor, ResetPeriod.WEEK, 1) == utc(2024, 3, 16, 22, 30)


def test_monthly_usage_and_billing_periods_from_jan_31() -> None:
    anchor = utc(2024, 1, 31)
    expected = [
        Period(utc(2024, 1, 31), utc(2024, 2, 29)),
        Period(utc(2024, 2, 29), utc(2024, 3, 31)),
        Period(utc(2024, 3, 31), utc(2024, 4, 30)),
        Period(utc(2024, 4, 30), utc(2024, 5, 31)),
    ]
    instants = [utc(2024, 2, 15), utc(2024, 3, 30, 23), utc(2024, 4, 1), utc(2024, 5, 30)]
    for instant, period in zip(instants, expected, strict=True):
        assert usage_period_for(instant, ResetPeriod.MONTH, SUB, anchor) == period
        assert billing_period_for(instant, BillingPeriod.MONTHLY, anchor) == period
    assert periods_between(utc(2024, 2, 1), utc(2024, 5, 1), ResetPeriod.MONTH, SUB, anchor) == (
        expected
    )


def test_monthly_from_jan_31_non_leap_year() -> None:
    period = usage_period_for(utc(2023, 2, 10), ResetPeriod.MONTH, SUB, utc(2023, 1, 31))
    assert period == Period(utc(2023, 1, 31), utc(2023, 2, 28))
    period = usage_period_for(utc(2023, 3, 1), ResetPeriod.MONTH, SUB, utc(2023, 1, 31))
    assert period == Period(utc(2023, 2, 28), utc(2023, 3, 31))


def test_yearly_from_feb_29() -> None:
    anchor = utc(2024, 2, 29)
    assert usage_period_for(utc(2025, 3, 1), ResetPeriod.YEAR, SUB, anchor) == Period(
        utc(2025, 2, 28), utc(2026, 2, 28)
    )
    assert billing_period_for(utc(2028, 2, 28), BillingPeriod.ANNUALLY, anchor) == Period(
        utc(2027, 2, 28), utc(2028, 2, 29)
    )
    assert billing_period_for(utc(2028, 2, 29), BillingPeriod.ANNUALLY, anchor) == Period(
        utc(2028, 2, 29), utc(2029, 2, 28)
    )


INSTANT = utc(2024, 3, 6, 15, 42, 17, 123456)  # a Wednesday


@pytest.mark.parametrize(
    ("reset_period", "instant", "expected"),
    [
        (ResetPeriod.HOUR, INSTANT, Period(utc(2024, 3, 6, 15), utc(2024, 3, 6, 16))),
        (ResetPeriod.DAY, INSTANT, Period(utc(2024, 3, 6), utc(2024, 3, 7))),
        (ResetPeriod.WEEK, INSTANT, Period(utc(2024, 3, 4), utc(2024, 3, 11))),
        (ResetPeriod.MONTH, INSTANT, Period(utc(2024, 3, 1), utc(2024, 4, 1))),
        (ResetPeriod.YEAR, INSTANT, Period(utc(2024, 1, 1), utc(2025, 1, 1))),
        # ISO week spanning a year end: Wed 2025-01-01 is in the week of Mon 2024-12-30
        (ResetPeriod.WEEK, utc(2025, 1, 1, 12), Period(utc(2024, 12, 30), utc(2025, 1, 6))),
        # Sunday night is still the week that started on Monday
        (
            ResetPeriod.WEEK,
            utc(2024, 3, 10, 23, 59, 59, 999999),
            Period(utc(2024, 3, 4), utc(2024, 3, 11)),
        ),
        (ResetPeriod.WEEK, utc(2024, 3, 11), Period(utc(2024, 3, 11), utc(2024, 3, 18))),
        (ResetPeriod.MONTH, utc(2024, 2, 29, 23), Period(utc(2024, 2, 1), utc(2024, 3, 1))),
        (ResetPeriod.DAY, utc(1990, 1, 1), Period(utc(1990, 1, 1), utc(1990, 1, 2))),
        (ResetPeriod.HOUR, utc(2100, 12, 31, 23, 59), Period(utc(2100, 12, 31, 23), utc(2101))),
    ],
)
def test_calendar_periods(reset_period: ResetPeriod, instant: datetime, expected: Period) -> None:
    assert usage_period_for(instant, reset_period, CAL) == expected
    # the subscription start is irrelevant for calendar periods
    assert usage_period_for(instant, reset_period, CAL, utc(2024, 1, 31, 7, 13)) == expected


@pytest.mark.parametrize(
    ("reset_period", "anchor", "boundary"),
    [
        (ResetPeriod.MONTH, utc(2024, 1, 31), utc(2024, 2, 29)),
        (ResetPeriod.YEAR, utc(2024, 2, 29, 6), utc(2025, 2, 28, 6)),
        (ResetPeriod.DAY, utc(2024, 1, 31, 10), utc(2024, 2, 1, 10)),
        (ResetPeriod.HOUR, utc(2024, 1, 31, 10, 30), utc(2024, 1, 31, 12, 30)),
        (ResetPeriod.WEEK, utc(2024, 1, 31), utc(2024, 2, 7)),
    ],
)
def test_boundary_instant_belongs_to_the_period_starting_there(
    reset_period: ResetPeriod, anchor: datetime, boundary: datetime
) -> None:
    after = usage_period_for(boundary, reset_period, SUB, anchor)
    before = usage_period_for(boundary - US, reset_period, SUB, anchor)
    assert after.start == boundary
    assert before.end == boundary
    assert not before.contains(boundary)
    assert after.contains(boundary)


def test_calendar_boundary_instant() -> None:
    assert usage_period_for(utc(2024, 3, 1), ResetPeriod.MONTH, CAL).start == utc(2024, 3, 1)
    assert usage_period_for(utc(2024, 3, 1) - US, ResetPeriod.MONTH, CAL).start == utc(2024, 2, 1)


@pytest.mark.parametrize(
    ("reset_period", "instant", "expected"),
    [
        (
            ResetPeriod.HOUR,
            utc(2024, 1, 31, 8),
            Period(utc(2024, 1, 31, 7, 30), utc(2024, 1, 31, 8, 30)),
        ),
        (
            ResetPeriod.DAY,
            utc(2024, 1, 30, 9),
            Period(utc(2024, 1, 29, 10, 30), utc(2024, 1, 30, 10, 30)),
        ),
        (
            ResetPeriod.WEEK,
            utc(2024, 1, 20),
            Period(utc(2024, 1, 17, 10, 30), utc(2024, 1, 24, 10, 30)),
        ),
        (
            ResetPeriod.MONTH,
            utc(2023, 12, 15),
            Period(utc(2023, 11, 30, 10, 30), utc(2023, 12, 31, 10, 30)),
        ),
        (
            ResetPeriod.MONTH,
            utc(2023, 3, 1),
            Period(utc(2023, 2, 28, 10, 30), utc(2023, 3, 31, 10, 30)),
        ),
        (
            ResetPeriod.YEAR,
            utc(2020, 6, 1),
            Period(utc(2020, 1, 31, 10, 30), utc(2021, 1, 31, 10, 30)),
        ),
    ],
)
def test_instants_before_the_anchor(
    reset_period: ResetPeriod, instant: datetime, expected: Period
) -> None:
    anchor = utc(2024, 1, 31, 10, 30)
    assert usage_period_for(instant, reset_period, SUB, anchor) == expected


def test_periods_between_edges() -> None:
    anchor = utc(2024, 1, 1)
    assert periods_between(utc(2024, 5, 1), utc(2024, 5, 1), ResetPeriod.DAY, SUB, anchor) == []
    with pytest.raises(ValueError, match="before start"):
        periods_between(utc(2024, 5, 2), utc(2024, 5, 1), ResetPeriod.DAY, SUB, anchor)
    # end is exclusive: a range ending exactly on a boundary does not include the next period
    days = periods_between(utc(2024, 5, 1, 12), utc(2024, 5, 3), ResetPeriod.DAY, CAL)
    assert days == [
        Period(utc(2024, 5, 1), utc(2024, 5, 2)),
        Period(utc(2024, 5, 2), utc(2024, 5, 3)),
    ]


def test_periods_between_caps_the_count() -> None:
    start = utc(2024, 1, 1)
    hours = periods_between(start, start + timedelta(hours=MAX_PERIODS), ResetPeriod.HOUR, CAL)
    assert len(hours) == MAX_PERIODS
    with pytest.raises(ValueError, match="exceed the maximum"):
        periods_between(
            start, start + timedelta(hours=MAX_PERIODS, microseconds=1), ResetPeriod.HOUR, CAL
        )
    with pytest.raises(ValueError, match="exceed the maximum"):
        periods_between(utc(1990, 1, 1), utc(2100, 1, 1), ResetPeriod.HOUR, SUB, start)


def test_naive_datetimes_are_rejected() -> None:
    naive = datetime(2024, 1, 1)
    aware = utc(2024, 1, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        usage_period_for(naive, ResetPeriod.DAY, CAL)
    with pytest.raises(ValueError, match="timezone-aware"):
        usage_period_for(aware, ResetPeriod.DAY, SUB, naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        billing_period_for(aware, BillingPeriod.MONTHLY, naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        add_periods(naive, ResetPeriod.MONTH, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        periods_between(naive, aware, ResetPeriod.DAY, CAL)
    with pytest.raises(ValueError, match="timezone-aware"):
        Period(naive, aware)
    with pytest.raises(ValueError, match="timezone-aware"):
        Period(aware, aware + timedelta(days=1)).contains(naive)


def test_aware_non_utc_datetimes_are_normalised() -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    # 2024-03-01 02:00 in +05:30 is 2024-02-29 20:30 UTC
    period = usage_period_for(datetime(2024, 3, 1, 2, tzinfo=ist), ResetPeriod.MONTH, CAL)
    assert period == Period(utc(2024, 2, 1), utc(2024, 3, 1))
    assert period.start.tzinfo is UTC
    assert period.end.utcoffset() == timedelta(0)
    anchor = datetime(2024, 2, 1, 3, tzinfo=ist)  # 2024-01-31 21:30 UTC
    assert add_periods(anchor, ResetPeriod.MONTH, 1) == utc(2024, 2, 29, 21, 30)
    assert add_periods(anchor, ResetPeriod.MONTH, 1).tzinfo is UTC


def test_subscription_anchor_requires_anchor_time() -> None:
    with pytest.raises(ValueError, match="anchor_time is required"):
        usage_period_for(utc(2024, 1, 1), ResetPeriod.DAY)
    with pytest.raises(ValueError, match="anchor_time is required"):
        periods_between(utc(2024, 1, 1), utc(2024, 1, 2), ResetPeriod.DAY, SUB)


def test_period_validation_and_contains() -> None:
    with pytest.raises(ValueError, match="must be before"):
        Period(utc(2024, 1, 1), utc(2024, 1, 1))
    period = Period(utc(2024, 1, 1), utc(2024, 1, 2))
    assert period.contains(utc(2024, 1, 1))
    assert period.contains(utc(2024, 1, 2) - US)
    assert not period.contains(utc(2024, 1, 2))
    assert not period.contains(utc(2024, 1, 1) - US)
    assert period.duration == timedelta(days=1)


def test_enums_are_str_enums_valued_by_name() -> None:
    for enum in (ResetPeriod, ResetAnchor, BillingPeriod):
        for member in enum:
            assert isinstance(member, str)
            assert member.value == member.name
            assert enum(member.name) is member
    assert [p.value for p in ResetPeriod] == ["HOUR", "DAY", "WEEK", "MONTH", "YEAR"]
    # plain strings (e.g. read back from the database) are accepted too
    period = usage_period_for(INSTANT, "DAY", "CALENDAR")  # type: ignore[arg-type]
    assert period == Period(utc(2024, 3, 6), utc(2024, 3, 7))
    with pytest.raises(ValueError):
        usage_period_for(INSTANT, "FORTNIGHT", CAL)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- property tests

MIN = datetime(1990, 1, 1)
MAX = datetime(2100, 12, 31, 23, 59, 59, 999999)

instants = st.datetimes(min_value=MIN, max_value=MAX, timezones=st.just(UTC))


@st.composite
def month_end_anchors(draw: st.DrawFn) -> datetime:
    """Anchors on day 28-31 (clamped to the month), where the clamping rules matter."""
    year = draw(st.integers(1990, 2100))
    month = draw(st.integers(1, 12))
    day = min(draw(st.integers(28, 31)), calendar.monthrange(year, month)[1])
    time = draw(st.times())
    return datetime.combine(datetime(year, month, day).date(), time, tzinfo=UTC)


anchors = st.one_of(instants, month_end_anchors())
reset_periods = st.sampled_from(ResetPeriod)
reset_anchors = st.sampled_from(ResetAnchor)
calendar_periods = st.sampled_from(ResetPeriod)

LENGTH_BOUNDS: dict[ResetPeriod, tuple[timedelta, timedelta]] = {
    ResetPeriod.HOUR: (timedelta(hours=1), timedelta(hours=1)),
    ResetPeriod.DAY: (timedelta(days=1), timedelta(days=1)),
    ResetPeriod.WEEK: (timedelta(weeks=1), timedelta(weeks=1)),
    ResetPeriod.MONTH: (timedelta(days=28), timedelta(days=31)),
    ResetPeriod.YEAR: (timedelta(days=365), timedelta(days=366)),
}

# spans for periods_between, short enough to stay well under MAX_PERIODS and fast
MAX_SPAN: dict[ResetPeriod, timedelta] = {
    ResetPeriod.HOUR: timedelta(hours=300),
    ResetPeriod.DAY: timedelta(days=300),
    ResetPeriod.WEEK: timedelta(weeks=300),
    ResetPeriod.MONTH: timedelta(days=366 * 20),
    ResetPeriod.YEAR: timedelta(days=366 * 60),
}

PROPS = settings(max_examples=150, deadline=None)


def _clamped(year: int, month: int, anchor: datetime) -> datetime:
    """Independent reference: the anchor's day (clamped) and time of day in year/month."""
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return datetime.combine(datetime(year, month, day).date(), anchor.timetz())


def _reference_start(instant: datetime, reset_period: ResetPeriod, anchor: datetime) -> datetime:
    """Start of the anchored period containing instant, computed without relativedelta."""
    if reset_period in (ResetPeriod.HOUR, ResetPeriod.DAY, ResetPeriod.WEEK):
        step = LENGTH_BOUNDS[reset_period][0]
        return anchor + step * ((instant - anchor) // step)
    if reset_period is ResetPeriod.MONTH:
        candidate = _clamped(instant.year, instant.month, anchor)
        if candidate <= instant:
            return candidate
        year, month = (
            (instant.year, instant.month - 1)
            if instant.month > 1
            else (
                instant.year - 1,
                12,
            )
        )
        return _clamped(year, month, anchor)
    candidate = _clamped(instant.year, anchor.month, anchor)
    return candidate if candidate <= instant else _clamped(instant.year - 1, anchor.month, anchor)


@PROPS
@given(instant=instants, reset_period=reset_periods, anchor=reset_anchors, anchor_time=anchors)
def test_period_contains_instant_and_is_stable(
    instant: datetime, reset_period: ResetPeriod, anchor: ResetAnchor, anchor_time: datetime
) -> None:
    period = usage_period_for(instant, reset_period, anchor, anchor_time)
    assert period.contains(instant)
    assert period.start.tzinfo is UTC
    assert period.end.tzinfo is UTC
    assert usage_period_for(period.start, reset_period, anchor, anchor_time) == period
    assert usage_period_for(period.end - US, reset_period, anchor, anchor_time) == period
    # neighbours tile: the next period starts where this one ends, the previous ends at its start
    assert usage_period_for(period.end, reset_period, anchor, anchor_time).start == period.end
    assert usage_period_for(period.start - US, reset_period, anchor, anchor_time).end == (
        period.start
    )
    low, high = LENGTH_BOUNDS[reset_period]
    assert low <= period.duration <= high


@PROPS
@given(instant=instants, reset_period=reset_periods, anchor_time=anchors)
def test_anchored_period_matches_reference(
    instant: datetime, reset_period: ResetPeriod, anchor_time: datetime
) -> None:
    period = usage_period_for(instant, reset_period, SUB, anchor_time)
    assert period.start == _reference_start(instant, reset_period, anchor_time)
    # every boundary keeps the anchor's time of day (hour-based periods: minute and below)
    if reset_period is ResetPeriod.HOUR:
        assert (period.start.minute, period.start.second, period.start.microsecond) == (
            anchor_time.minute,
            anchor_time.second,
            anchor_time.microsecond,
        )
    else:
        assert period.start.timetz() == anchor_time.timetz()
        assert period.end.timetz() == anchor_time.timetz()


@PROPS
@given(anchor_time=anchors, n=st.integers(-150, 150))
def test_month_boundaries_clamp_and_return_to_the_anchor_day(anchor_time: datetime, n: int) -> None:
    boundary = add_periods(anchor_time, ResetPeriod.MONTH, n)
    months = anchor_time.year * 12 + anchor_time.month - 1 + n
    year, month = divmod(months, 12)
    assert boundary == _clamped(year, month + 1, anchor_time)
    if calendar.monthrange(year, month + 1)[1] >= anchor_time.day:
        assert boundary.day == anchor_time.day
    # computed from the anchor, not chained: n boundaries later we are back on the anchor day
    assert usage_period_for(boundary, ResetPeriod.MONTH, SUB, anchor_time) == Period(
        boundary, add_periods(anchor_time, ResetPeriod.MONTH, n + 1)
    )
    assert billing_period_for(boundary, BillingPeriod.MONTHLY, anchor_time).start == boundary


@PROPS
@given(anchor_time=anchors, n=st.integers(-12, 12))
def test_year_boundaries_clamp(anchor_time: datetime, n: int) -> None:
    boundary = add_periods(anchor_time, ResetPeriod.YEAR, n)
    assert boundary == _clamped(anchor_time.year + n, anchor_time.month, anchor_time)
    assert billing_period_for(boundary, BillingPeriod.ANNUALLY, anchor_time) == Period(
        boundary, add_periods(anchor_time, ResetPeriod.YEAR, n + 1)
    )


@PROPS
@given(anchor_time=anchors, reset_period=reset_periods, n=st.integers(-100, 100))
def test_boundaries_are_strictly_increasing_and_index_back(
    anchor_time: datetime, reset_period: ResetPeriod, n: int
) -> None:
    assert add_periods(anchor_time, reset_period, 0) == anchor_time
    here = add_periods(anchor_time, reset_period, n)
    after = add_periods(anchor_time, reset_period, n + 1)
    assert here < after
    assert usage_period_for(here, reset_period, SUB, anchor_time) == Period(here, after)


@PROPS
@given(instant=instants, reset_period=calendar_periods)
def test_calendar_periods_are_aligned(instant: datetime, reset_period: ResetPeriod) -> None:
    period = usage_period_for(instant, reset_period, CAL)
    start = period.start
    assert (start.minute, start.second, start.microsecond) == (0, 0, 0)
    if reset_period is not ResetPeriod.HOUR:
        assert start.hour == 0
    if reset_period is ResetPeriod.WEEK:
        assert start.weekday() == 0  # Monday
        assert start.isocalendar()[:2] == instant.isocalendar()[:2]
    if reset_period in (ResetPeriod.MONTH, ResetPeriod.YEAR):
        assert start.day == 1
        assert (start.year, start.month if reset_period is ResetPeriod.MONTH else 1) == (
            instant.year,
            instant.month if reset_period is ResetPeriod.MONTH else 1,
        )
    if reset_period is ResetPeriod.YEAR:
        assert start.month == 1
    if reset_period is ResetPeriod.DAY:
        assert start.date() == instant.date()
    if reset_period is ResetPeriod.HOUR:
        assert start == instant.replace(minute=0, second=0, microsecond=0)
    low, high = LENGTH_BOUNDS[reset_period]
    assert low <= period.duration <= high


@PROPS
@given(
    data=st.data(),
    start=instants,
    reset_period=reset_periods,
    anchor=reset_anchors,
    anchor_time=anchors,
)
def test_periods_between_tiles_the_range(
    data: st.DataObject,
    start: datetime,
    reset_period: ResetPeriod,
    anchor: ResetAnchor,
    anchor_time: datetime,
) -> None:
    span = data.draw(st.timedeltas(timedelta(microseconds=1), MAX_SPAN[reset_period]))
    end = start + span
    periods = periods_between(start, end, reset_period, anchor, anchor_time)
    assert periods
    assert periods[0] == usage_period_for(start, reset_period, anchor, anchor_time)
    assert periods[-1] == usage_period_for(end - US, reset_period, anchor, anchor_time)
    assert periods[0].contains(start)
    assert periods[-1].contains(end - US)
    for previous, following in pairwise(periods):
        assert previous.end == following.start
    # a sample of the periods are the ones usage_period_for returns
    for period in (periods[len(periods) // 2], periods[-1]):
        assert usage_period_for(period.start, reset_period, anchor, anchor_time) == period
