"""Insights across an environment's customer base: customers per plan and per status, trials
ending soon, customers near their limits, usage distribution, revenue by plan; and the search
of customers by id, name or email.

The counting is SQL (app/store/insights.py), one statement per number whatever the number of
customers; the rules here are the arguments' bounds and the shape of the answers. How each
number is computed is in docs/console.md ("Insights").
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.subscriptions.dates import SubscriptionStatus
from app.errors import DomainError, ErrorCode
from app.models import Subscription
from app.store import catalog as catalog_store
from app.store import insights as store
from app.store.rows import FeatureUtilizationRow, PlanCount, PlanRevenueRow

T = TypeVar("T")

MAX_BUCKETS = 100
MAX_WITHIN_DAYS = 366
MAX_SEARCH_LENGTH = 200


@dataclass(frozen=True)
class StatusCount:
    status: SubscriptionStatus
    customers: int


@dataclass(frozen=True)
class Bucket:
    """Customers whose usage is in [start, end) (the last bucket includes its end)."""

    start: float
    end: float
    customers: int


async def prepare(session: AsyncSession) -> None:
    """Tune the session for reading the whole customer base (app/store/insights.py)."""
    await store.for_analytics(session)


async def customers_per_plan(
    session: AsyncSession, env: uuid.UUID, now: datetime
) -> list[PlanCount]:
    return await store.customers_per_plan(session, env, now)


async def customers_per_status(
    session: AsyncSession, env: uuid.UUID, now: datetime
) -> list[StatusCount]:
    """Every status, in the enum's order, with the customers holding at least one
    subscription in it (a customer with two subscriptions may count under two statuses)."""
    found = {r.status: r.customers for r in await store.customers_per_status(session, env, now)}
    return [StatusCount(s, found.get(s.value, 0)) for s in SubscriptionStatus]


async def trials_ending_soon(
    session: AsyncSession,
    env: uuid.UUID,
    now: datetime,
    within_days: int,
    first: int,
) -> list[tuple[Subscription, str, str]]:
    if not 0 <= within_days <= MAX_WITHIN_DAYS:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"`withinDays` must be between 0 and {MAX_WITHIN_DAYS}",
            ["withinDays"],
        )
    return await store.trials_ending(session, env, now, now + timedelta(days=within_days), first)


async def limit_utilization(
    session: AsyncSession, env: uuid.UUID, now: datetime
) -> list[FeatureUtilizationRow]:
    """Every metered feature (not archived), by id, even when no customer has a limit on it."""
    features = await store.metered_features(session, env)
    found = {r.feature_id: r for r in await store.limit_utilization(session, env, features, now)}
    return [found.get(f, FeatureUtilizationRow(f, 0, 0, 0)) for f in features]


async def usage_distribution(
    session: AsyncSession, env: uuid.UUID, feature_id: str, buckets: int, now: datetime
) -> list[Bucket]:
    """`buckets` equal ranges from min(0, lowest usage) to the highest usage over the
    customers granted the feature, each with its customers; one bucket when every customer
    uses the same amount; none when no customer is granted it."""
    if not 1 <= buckets <= MAX_BUCKETS:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"`buckets` must be between 1 and {MAX_BUCKETS}", ["buckets"]
        )
    feature = (await catalog_store.features_by_ids(session, env, [feature_id])).get(feature_id)
    if feature is None:
        raise DomainError(ErrorCode.FEATURE_NOT_FOUND, f"no feature {feature_id!r}", ["featureId"])
    if feature.type != "METERED":
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"feature {feature_id!r} is not metered", ["featureId"]
        )
    spread = await store.usage_spread(session, env, feature_id, buckets, now)
    return buckets_of(spread.low, spread.high, spread.counts, buckets)


def buckets_of(
    low: float | None, high: float | None, counts: dict[int, int], buckets: int
) -> list[Bucket]:
    if low is None or high is None:
        return []
    if high == low:
        return [Bucket(low, high, sum(counts.values()))]
    width = (high - low) / buckets
    return [
        Bucket(
            low + i * width, high if i == buckets - 1 else low + (i + 1) * width, counts.get(i, 0)
        )
        for i in range(buckets)
    ]


async def revenue_by_plan(
    session: AsyncSession, env: uuid.UUID, start: datetime | None, end: datetime | None
) -> list[PlanRevenueRow]:
    if start is not None and end is not None and end < start:
        raise DomainError(ErrorCode.INVALID_INPUT, "`to` is before `from`", ["to"])
    return await store.revenue_by_plan(session, env, start, end)


def search_pattern(search: str | None) -> str | None:
    """The LIKE pattern of a customer search: a case-insensitive substring of the id, name or
    email, wildcards in the term taken literally. None: no search (null or blank)."""
    if search is None or not search.strip():
        return None
    term = search.strip()
    if len(term) > MAX_SEARCH_LENGTH or "\n" in term:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"`search` must be one line of at most {MAX_SEARCH_LENGTH} characters",
            ["search"],
        )
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# --- answers reused for a while (ALLOT_INSIGHTS_MAX_AGE) ----------------------------------------
#
# An insight reads the whole customer base (tens to hundreds of milliseconds at 100,000
# customers); the console shows the same ones again and again. An answer is kept per
# (environment, field, arguments) in the process: younger than the max age it is answered as
# it is; older, however much older, it is still answered at once while one background task
# computes it again (the next read gets the new one). Only a key never computed in this
# process makes its reader wait (and readers asking for it meanwhile wait for the same
# computation, not one each).

log = logging.getLogger("allot.insights")

MAX_KEPT = 1_000


@dataclass
class _Kept:
    at: float  # time.monotonic() of the computation
    value: Any
    refreshing: asyncio.Task[None] | None = None


_KEPT: OrderedDict[tuple[Any, ...], _Kept] = OrderedDict()
# The first computation of a key, shared by the readers that wait for it.
_FIRST: dict[tuple[Any, ...], asyncio.Future[Any]] = {}
# The background refreshes running (held here so that none is collected before it ends).
_REFRESHING: set[asyncio.Task[None]] = set()


def forget() -> None:
    """Drop every kept answer (tests)."""
    _KEPT.clear()
    _FIRST.clear()


async def reused(key: tuple[Any, ...], max_age: float, compute: Callable[[], Awaitable[T]]) -> T:
    if max_age <= 0:
        return await compute()
    kept = _KEPT.get(key)
    if kept is None:
        return await _first(key, compute)
    _KEPT.move_to_end(key)
    if time.monotonic() - kept.at > max_age and kept.refreshing is None:
        kept.refreshing = asyncio.create_task(_refresh(key, kept, compute))
        _REFRESHING.add(kept.refreshing)
        kept.refreshing.add_done_callback(_REFRESHING.discard)
    return kept.value  # type: ignore[no-any-return]


async def _first(key: tuple[Any, ...], compute: Callable[[], Awaitable[T]]) -> T:
    pending = _FIRST.get(key)
    if pending is not None:
        # shielded: one waiter going away (its request cancelled) cancels nobody else's
        return await asyncio.shield(pending)
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    _FIRST[key] = future
    try:
        value = await compute()
    except BaseException as error:  # a client mistake, or the database: not kept
        if isinstance(error, Exception):
            future.set_exception(error)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
        else:
            future.cancel()
        raise
    else:
        _keep(key, _Kept(time.monotonic(), value))
        future.set_result(value)
        return value
    finally:
        _FIRST.pop(key, None)


async def _refresh(
    key: tuple[Any, ...], kept: _Kept, compute: Callable[[], Awaitable[Any]]
) -> None:
    try:
        value = await compute()
    except Exception:  # the stale answer stays; the next read past the max age tries again
        log.exception("recomputing the insight %s failed", key[1:])
        kept.refreshing = None
        return
    _keep(key, _Kept(time.monotonic(), value))


def _keep(key: tuple[Any, ...], kept: _Kept) -> None:
    _KEPT[key] = kept
    _KEPT.move_to_end(key)
    while len(_KEPT) > MAX_KEPT:
        _KEPT.popitem(last=False)
