"""Answering entitlement checks from the precomputed entitlements and the usage counters.

Warm path: one statement fetches the customer, its cached entitlement for the feature, the
feature's type and the latest usage counters. Only when the cached entitlements are missing
or stale (a date passed, or the catalog changed) does the check recompute them first.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from app.db import Database
from app.domain.checks import customer_entitlements
from app.domain.entitlement_sources import (
    DenyReason,
    EffectiveEntitlement,
    EntitlementCheck,
    FeatureType,
)
from app.domain.entitlements import check_entitlement, denied
from app.domain.periods import Period, ResetAnchor, ResetPeriod, usage_period_for
from app.store import customers as store
from app.store.rows import CachedState, Counter, EntitlementsState, FeatureState
from app.store.usage import NO_PERIOD, NO_PERIOD_END

# The counters current at the time asked, per feature: {featureId: [counter, ...]}.
LatestUsage = Mapping[str, Sequence[Counter]]


@dataclass(frozen=True)
class CheckResult:
    """The engine's answer plus the usage period it was measured in."""

    check: EntitlementCheck
    period: Period | None


# The last period computed per (reset period, anchor, anchor time): nearly every call asks
# for the same period again, and period arithmetic costs far more than this lookup.
_RECENT_PERIODS: dict[tuple[str, str, str | None], Period] = {}


def usage_period(effective: Mapping[str, Any] | None, at: datetime) -> Period | None:
    """The usage period containing `at` for an entitlement with a reset period (None: the
    usage never resets)."""
    if effective is None:
        return None
    period = effective.get("reset_period")
    if not period or not effective.get("granted"):
        return None
    anchor = ResetAnchor(effective.get("reset_anchor") or "SUBSCRIPTION_START")
    anchor_time = effective.get("anchor")
    if anchor is ResetAnchor.SUBSCRIPTION_START and anchor_time is None:
        anchor = ResetAnchor.CALENDAR
    key = (period, anchor.value, anchor_time if anchor is ResetAnchor.SUBSCRIPTION_START
           else None)
    recent = _RECENT_PERIODS.get(key)
    if recent is not None and recent.start <= at < recent.end:
        return recent
    found = usage_period_for(at, ResetPeriod(period), anchor,
                             datetime.fromisoformat(anchor_time) if anchor_time else None)
    if len(_RECENT_PERIODS) > 10_000:
        _RECENT_PERIODS.clear()
    _RECENT_PERIODS[key] = found
    return found


def granted_since(effective: Mapping[str, Any] | None) -> datetime | None:
    """When the source granting an entitlement started (the start of its subscription, or of
    the promotion): no usage counts, and no usage period exists, before it. None when not
    granted."""
    if effective is None or not effective.get("granted") or not effective.get("anchor"):
        return None
    return datetime.fromisoformat(effective["anchor"])


def period_key(period: Period | None) -> tuple[datetime, datetime]:
    """What identifies a period's counter: its start and end (two periods that start at the
    same instant, a day and a month say, are two counters)."""
    return (period.start, period.end) if period is not None else (NO_PERIOD, NO_PERIOD_END)


def usage_in(period: Period | None, counters: Sequence[Counter]) -> float:
    """The counter of `period` among the current counters fetched (0 when none: a new period
    starts at zero without anyone resetting it)."""
    key = period_key(period)
    return next((float(value) for start, end, value in counters if (start, end) == key), 0.0)


# The stored entitlements read lately, parsed: {(customer, feature): (the version of the
# customer's stored entitlements, parsed)}. A warm check reads the same few entitlements over
# and over; parsing one (a dozen sources) was a tenth of the check. The version changes with
# every rewrite of the customer's entitlements, and invalidation, so a kept parse is used only
# for the very row it was parsed from.
_PARSED: dict[tuple[uuid.UUID, str], tuple[str, EffectiveEntitlement]] = {}
MAX_PARSED = 4_096


def parsed(row: CachedState, feature_id: str, effective: dict[str, Any]
           ) -> EffectiveEntitlement:
    key = (row.customer_pk, feature_id)
    kept = _PARSED.get(key)
    if kept is not None and kept[0] == row.entitlements_version:
        return kept[1]
    parsed = EffectiveEntitlement.from_dict(effective)
    if row.entitlements_version is not None:
        if len(_PARSED) >= MAX_PARSED:
            _PARSED.clear()
        _PARSED[key] = (row.entitlements_version, parsed)
    return parsed


def _answer(feature_id: str, feature_type: str, effective: dict[str, Any] | None,
            has_active: bool, now: datetime, requested_usage: float | None,
            requested_values: Sequence[str] | None,
            counters: Sequence[Counter] = (),
            parsed: EffectiveEntitlement | None = None) -> CheckResult:
    if parsed is not None:
        merged = parsed
    elif effective is None:
        merged = EffectiveEntitlement(feature_id=feature_id,
                                      feature_type=FeatureType(feature_type), granted=False,
                                      has_active_subscription=has_active)
    else:
        merged = EffectiveEntitlement.from_dict(effective)
    period = usage_period(effective, now)
    check = check_entitlement(merged, current_usage=usage_in(period, counters),
                              requested_usage=requested_usage, requested_values=requested_values)
    return CheckResult(check, period)


async def _recompute(db: Database, env: uuid.UUID, customer_pk: uuid.UUID,
                     now: datetime) -> customer_entitlements.Computed:
    async with db.transaction() as session:
        await store.lock_customer(session, customer_pk)
        return (await customer_entitlements.refresh(session, env, [customer_pk], now))[customer_pk]


# Entitlements scoped to one resource, computed on read and kept in the process:
# {(customer, resource): (version of the customer's cached entitlements, computed)}. The
# database holds only the customer as a whole; its cached row is rewritten whenever any
# source of the customer changes (and publishing marks it stale), so a kept computation is
# used only while that row is the very version it was computed alongside, and not stale.
_BY_RESOURCE: OrderedDict[tuple[uuid.UUID, str], tuple[str, customer_entitlements.Computed]] = (
    OrderedDict())
MAX_KEPT_RESOURCES = 2_000  # each holds all of a customer's entitlements: bound the memory


async def for_resource(db: Database, env: uuid.UUID, row: CachedState, resource_id: str,
                       now: datetime) -> customer_entitlements.Computed:
    """Entitlements scoped to one resource, from the customer and the state of its cached
    entitlements."""
    key = (row.customer_pk, resource_id)
    version = row.entitlements_version
    fresh = not is_stale(row, now) and version is not None
    kept = _BY_RESOURCE.get(key)
    if fresh and kept is not None and kept[0] == version:
        _BY_RESOURCE.move_to_end(key)
        return kept[1]
    async with db.session() as session:
        computed = await customer_entitlements.compute_for_resource(
            session, env, row.customer_pk, resource_id, now)
    if fresh and version is not None:
        _BY_RESOURCE[key] = (version, computed)
        if len(_BY_RESOURCE) > MAX_KEPT_RESOURCES:
            _BY_RESOURCE.popitem(last=False)
    return computed


def is_stale(row: CachedState, now: datetime) -> bool:
    """Whether a customer's cached entitlements are missing or past their `valid_until`."""
    return not row.cached or (row.valid_until is not None and row.valid_until <= now)


async def entitlement_of(db: Database, env: uuid.UUID, row: FeatureState, feature_id: str,
                         now: datetime) -> tuple[dict[str, Any] | None, bool]:
    """The customer's effective entitlement for the feature from a check row, recomputed
    first when the cached one is missing or stale."""
    if is_stale(row, now):
        computed = await _recompute(db, env, row.customer_pk, now)
        return computed.entitlements.get(feature_id), computed.has_active_subscription
    return row.entitlement, row.has_active_subscription


async def all_entitlements_of(db: Database, env: uuid.UUID, row: EntitlementsState,
                              now: datetime) -> tuple[dict[str, Any], bool]:
    """Every effective entitlement of the customer from its cached ones, recomputed first
    when missing or stale."""
    if is_stale(row, now):
        computed = await _recompute(db, env, row.customer_pk, now)
        return computed.entitlements, computed.has_active_subscription
    return row.entitlements, row.has_active_subscription


async def check_one(db: Database, env: uuid.UUID, customer_id: str, feature_id: str,
                    now: datetime, requested_usage: float | None = None,
                    requested_values: Sequence[str] | None = None,
                    resource_id: str | None = None) -> CheckResult:
    async with db.read() as conn:
        row = await store.fetch_check_row(conn, env, customer_id, feature_id,
                                          resource_id or "", now)
    if row is None:
        return CheckResult(denied(feature_id, DenyReason.CUSTOMER_NOT_FOUND), None)
    if row.archived:
        archived = denied(feature_id, DenyReason.CUSTOMER_ARCHIVED)
        if row.feature_type is not None:  # the answer still says what the feature is
            archived = replace(archived, feature_type=FeatureType(row.feature_type))
        return CheckResult(archived, None)
    if row.feature_type is None:
        return CheckResult(denied(feature_id, DenyReason.FEATURE_NOT_FOUND), None)
    if resource_id:
        computed = await for_resource(db, env, row, resource_id, now)
        effective = computed.entitlements.get(feature_id)
        has_active = computed.has_active_subscription
    elif not is_stale(row, now) and row.entitlement is not None:
        # The stored row as it is: its parse may be kept from an earlier check.
        return _answer(feature_id, row.feature_type, row.entitlement,
                       row.has_active_subscription, now, requested_usage, requested_values,
                       row.counters, parsed(row, feature_id, row.entitlement))
    else:
        effective, has_active = await entitlement_of(db, env, row, feature_id, now)
    return _answer(feature_id, row.feature_type, effective, has_active, now,
                   requested_usage, requested_values, row.counters)


async def check_all(db: Database, env: uuid.UUID, customer_id: str, now: datetime,
                    resource_id: str | None = None) -> list[CheckResult] | DenyReason:
    """Every feature the customer has an entitlement for (granted by some source)."""
    async with db.read() as conn:
        row = await store.fetch_all_row(conn, env, customer_id)
        latest = {} if row is None else await store.latest_usage(
            conn, [row.customer_pk], resource_id or "", now)
    if row is None:
        return DenyReason.CUSTOMER_NOT_FOUND
    if row.archived:
        return DenyReason.CUSTOMER_ARCHIVED
    if resource_id:
        computed = await for_resource(db, env, row, resource_id, now)
        entitlements, has_active = computed.entitlements, computed.has_active_subscription
    else:
        entitlements, has_active = await all_entitlements_of(db, env, row, now)
    return results_for(entitlements, has_active, now, latest.get(row.customer_pk, {}))


def results_for(entitlements: dict[str, Any], has_active: bool, now: datetime,
                usage: LatestUsage | None = None) -> list[CheckResult]:
    """The checks of every granted feature, from a customer's computed entitlements."""
    usage = usage or {}
    return [_answer(fid, data["feature_type"], data, has_active, now, None, None,
                    usage.get(fid, ()))
            for fid, data in sorted(entitlements.items()) if data.get("granted")]


async def results_for_customers(db: Database, env: uuid.UUID, customer_pks: list[uuid.UUID],
                                now: datetime) -> dict[uuid.UUID, list[CheckResult]]:
    """Batch form for lists: cached rows and usage in two queries; stale ones recomputed
    together."""
    async with db.session() as session:
        cached = await store.cached_entitlements(session, customer_pks)
        customers = await store.customers_by_pks(session, customer_pks)
    async with db.raw() as conn:
        usage = await store.latest_usage(conn, customer_pks, "", now)
    out: dict[uuid.UUID, list[CheckResult]] = {}
    stale = []
    for pk in customer_pks:
        row = cached.get(pk)
        if customers.get(pk) is not None and customers[pk].archived_at is not None:
            out[pk] = []
        elif row is None or (row.valid_until is not None and row.valid_until <= now):
            stale.append(pk)
        else:
            out[pk] = results_for(row.entitlements, row.has_active_subscription, now,
                                  usage.get(pk))
    if stale:
        async with db.transaction() as session:
            for pk in sorted(stale):  # a fixed lock order: no deadlock between batches
                await store.lock_customer(session, pk)
            computed = await customer_entitlements.refresh(session, env, stale, now)
        for pk, result in computed.items():
            out[pk] = results_for(result.entitlements, result.has_active_subscription, now,
                                  usage.get(pk))
    return out
