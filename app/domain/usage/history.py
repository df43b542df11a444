"""Usage over time: the value of every usage period between two instants (zero where
nothing was reported), following the customer's current effective entitlement's periods,
from the start of the subscription (or promotion) that grants it: no periods before it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.db import Database
from app.domain.checks import answers as checks
from app.domain.periods import MAX_PERIODS, ResetAnchor, ResetPeriod, periods_between
from app.errors import DomainError, ErrorCode
from app.store import customers as customer_store
from app.store import usage as store


@dataclass(frozen=True)
class UsagePeriod:
    period_start: datetime | None
    period_end: datetime | None
    usage: float


async def usage_history(db: Database, env: uuid.UUID, customer_id: str, feature_id: str,
                        start: datetime, end: datetime | None, now: datetime,
                        resource_id: str | None = None) -> list[UsagePeriod]:
    # Without `to`: up to now, the period containing now included (even at its first instant).
    end = end or now + timedelta(microseconds=1)
    if start.tzinfo is None or end.tzinfo is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "dates need a time zone", ["from"])
    if end <= start:
        raise DomainError(ErrorCode.INVALID_INPUT, "`to` must be after `from`", ["to"])
    resource_key = resource_id or ""
    async with db.raw() as conn:
        row = await customer_store.fetch_check_row(conn, env, customer_id, feature_id,
                                                   resource_key, now)
        if row is None:
            raise DomainError(ErrorCode.CUSTOMER_NOT_FOUND, f"no customer {customer_id!r}",
                              ["customerId"])
        if row.feature_type is None:
            raise DomainError(ErrorCode.FEATURE_NOT_FOUND, f"no feature {feature_id!r}",
                              ["featureId"])
        effective, _ = await checks.entitlement_of(db, env, row, feature_id, now)
        since = checks.granted_since(effective)
        if since is not None:
            if end <= since:
                return []  # all before the subscription started
            start = max(start, since)
        current = checks.usage_period(effective, now)
        if current is None or effective is None:
            value = await store.counter_value(conn, row.customer_pk, feature_id,
                                              resource_key, checks.period_key(None))
            return [UsagePeriod(None, None, value)]
        anchor = ResetAnchor(effective.get("reset_anchor") or "SUBSCRIPTION_START")
        anchor_time = effective.get("anchor")
        if anchor is ResetAnchor.SUBSCRIPTION_START and anchor_time is None:
            anchor = ResetAnchor.CALENDAR
        try:
            periods = periods_between(start, end, ResetPeriod(effective["reset_period"]), anchor,
                                      datetime.fromisoformat(anchor_time) if anchor_time
                                      else None)
        except ValueError:
            raise DomainError(ErrorCode.INVALID_INPUT,
                              f"the range spans more than {MAX_PERIODS} periods",
                              ["from"]) from None
        except OverflowError:  # a date near year 1 or 9999
            raise DomainError(ErrorCode.INVALID_INPUT, "dates out of range",
                              ["from"]) from None
        values = await store.history(conn, row.customer_pk, feature_id, resource_key,
                                     periods[0].start, periods[-1].end)
    return [UsagePeriod(p.start, p.end, values.get((p.start, p.end), 0.0)) for p in periods]

