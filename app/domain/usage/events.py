"""Raw events: stored durably, deduplicated by key, aggregated by meters into usage counters
in the same transaction, so a check sees them at once.

Meters: COUNT (events), SUM (of a numeric dimension), MAX, UNIQUE_COUNT (distinct values of a
dimension in the period), LATEST (the value of the newest event by timestamp). Filters on
dimensions must all match. An event counts in the usage period containing its timestamp.
A key seen before (earlier, or earlier in the same call) is a duplicate when the payload is
the same (customer, event name, resource, timestamp as sent, dimensions) and
IDEMPOTENCY_KEY_REUSED for that event when it is not.
Events whose dimension is missing or not numeric (SUM, MAX, LATEST) are stored but add
nothing to that meter.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from app.db import Database
from app.domain.checks import answers as checks
from app.domain.usage.reports import THRESHOLDS, check_key, check_timestamp, usage_limit
from app.domain.usage.targets import before_start
from app.errors import DomainError, ErrorCode
from app.store import push as push_store
from app.store import units
from app.store import usage as store
from app.store.errors import OutOfRange
from app.store.rows import CounterKey, EntitlementsState, Meter

MAX_EVENTS = 1000
GroupKey = tuple[uuid.UUID, str, str, datetime, datetime]  # a counter (app.store.rows.CounterKey)


class _OutOfRange(Exception):
    """A batch's contribution to a counter is not a finite number."""


@dataclass
class EventsResult:
    accepted: int
    duplicates: int
    errors: list[DomainError] = field(default_factory=list)
    crossings: int = 0


@dataclass(frozen=True)
class _Event:
    index: int
    key: str
    customer_id: str
    name: str
    resource_id: str | None
    at: datetime
    dimensions: dict[str, Any]
    digest: str  # the payload as sent: a key's repeat with another one is refused


def _digest(raw: Mapping[str, Any], at: datetime | None) -> str:
    """A hash of what the client sent (the timestamp only when it sent one, so a retry of
    an event stamped "now" is the same event)."""
    canonical = {"customerId": raw.get("customerId"), "eventName": raw.get("eventName"),
                 "resourceId": raw.get("resourceId"),
                 "timestamp": at.astimezone(UTC).isoformat() if at is not None else None,
                 "dimensions": raw.get("dimensions") or {}}
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _reused(e: _Event) -> DomainError:
    return DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED,
                       "this idempotency key was used for another event",
                       ["events", e.index, "idempotencyKey"])


def _validated(i: int, raw: Mapping[str, Any], now: datetime) -> _Event:
    path: list[str | int] = ["events", i]
    key = check_key(raw.get("idempotencyKey"), [*path, "idempotencyKey"])
    if key is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "every event needs an idempotencyKey",
                          [*path, "idempotencyKey"])
    customer_id, name = raw.get("customerId"), raw.get("eventName")
    if not isinstance(customer_id, str) or not customer_id:
        raise DomainError(ErrorCode.INVALID_INPUT, "customerId is required",
                          [*path, "customerId"])
    if not isinstance(name, str) or not name or len(name) > 200:
        raise DomainError(ErrorCode.INVALID_INPUT, "eventName is required",
                          [*path, "eventName"])
    dimensions = raw.get("dimensions") or {}
    if not isinstance(dimensions, dict):
        raise DomainError(ErrorCode.INVALID_INPUT, "dimensions must be an object",
                          [*path, "dimensions"])
    at = check_timestamp(raw.get("timestamp"), now, [*path, "timestamp"])
    sent = at if raw.get("timestamp") is not None else None
    return _Event(i, key, customer_id, name, raw.get("resourceId"), at, dimensions,
                  _digest(raw, sent))


def matches(meter: Mapping[str, Any], dimensions: Mapping[str, Any]) -> bool:
    for flt in meter.get("filters", []):
        value = dimensions.get(flt["dimension"])
        text = None if value is None else str(value)
        inside = text in flt["values"]
        if flt["operator"] in ("EQUALS", "IN") and not inside:
            return False
        if flt["operator"] in ("NOT_EQUALS", "NOT_IN") and inside:
            return False
    return True


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


@dataclass
class _Group:
    total: float = 0.0
    latest: tuple[datetime, float] | None = None
    limit: float | None = None


async def report_events(db: Database, env: uuid.UUID,
                        raw_events: Sequence[Mapping[str, Any]], now: datetime) -> EventsResult:
    if len(raw_events) > MAX_EVENTS:
        return EventsResult(0, 0, [DomainError(ErrorCode.INVALID_INPUT,
                                               f"at most {MAX_EVENTS} events a call",
                                               ["events"])])
    errors: list[DomainError] = []
    events: list[_Event] = []
    for i, raw in enumerate(raw_events):
        try:
            events.append(_validated(i, raw, now))
        except DomainError as error:
            errors.append(error)
    async with db.raw() as conn:
        # Only the entitlements of the features these events' meters feed are read.
        meters = await store.meters_for(conn, env, [e.name for e in events])
        customers = await store.customers_by_ids(conn, env, [e.customer_id for e in events],
                                                 [m.feature_id for m in meters])
        known = []
        for e in events:
            customer = customers.get(e.customer_id)
            if customer is None or customer.archived:
                code = ErrorCode.CUSTOMER_NOT_FOUND if customer is None else \
                    ErrorCode.CUSTOMER_ARCHIVED
                errors.append(DomainError(code, f"customer {e.customer_id!r} cannot take "
                                          "events", ["events", e.index, "customerId"]))
            else:
                known.append(e)
        entitlements: dict[uuid.UUID, dict[str, Any]] = {}
        for customer in {customers[e.customer_id].customer_pk: customers[e.customer_id]
                         for e in known}.values():
            entitlements[customer.customer_pk], _ = await checks.all_entitlements_of(
                db, env, customer, now)
        in_window = []
        for e in known:
            early = _before_start(e, entitlements[customers[e.customer_id].customer_pk], meters)
            if early is None:
                in_window.append(e)
            else:
                errors.append(early)
        known = in_window
        if not known:
            return EventsResult(0, 0, _in_order(errors))
        # The first event of each key is the one stored; its repeats in the call are
        # compared with it (or with what was stored before under the key).
        firsts: dict[str, _Event] = {}
        for e in known:
            firsts.setdefault(e.key, e)
        candidates = list(firsts.values())
        try:
            async with units.atomically(conn):
                new = await store.insert_events(
                    conn, env, [e.key for e in candidates],
                    [customers[e.customer_id].customer_pk for e in candidates],
                    [e.name for e in candidates], [e.resource_id for e in candidates],
                    [e.at for e in candidates], [e.dimensions for e in candidates],
                    [e.digest for e in candidates], now)
                seen = [e.key for e in candidates if e.key not in new]
                stored = await store.event_hashes(conn, env, seen) if seen else {}
                fresh = [e for e in candidates if e.key in new]
                crossings, changed = await _aggregate(conn, env, fresh, customers,
                                                      entitlements, meters, now)
        except (OutOfRange, _OutOfRange):
            # A counter would overflow: the batch is rolled back whole, nothing recorded.
            return EventsResult(0, 0, _in_order([*errors, DomainError(
                ErrorCode.INVALID_INPUT, "the events would push usage out of range",
                ["events"])]))
    # Committed: announce the counters it changed (docs/push.md).
    push_store.announcer_for(db).note(env, changed)
    duplicates = 0
    for e in known:
        if e.key in new and firsts[e.key] is e:
            continue
        # What the key stands for: the event stored before (None: stored before hashes
        # were kept, taken as the same), else the first of this call.
        reference = stored.get(e.key) if e.key not in new else firsts[e.key].digest
        if reference is not None and reference != e.digest:
            errors.append(_reused(e))
        else:
            duplicates += 1
    return EventsResult(len(fresh), duplicates, _in_order(errors), crossings)


def _before_start(e: _Event, entitlements: Mapping[str, Any], meters: list[Meter]
                  ) -> DomainError | None:
    """An event dated before the start of a subscription granting a feature that counts it
    would land in a period before that subscription: refused (docs/usage.md)."""
    for meter_row in meters:
        meter = meter_row.meter
        if meter["eventName"] != e.name or not matches(meter, e.dimensions):
            continue
        since = checks.granted_since(entitlements.get(meter_row.feature_id))
        if since is not None and e.at < since:
            return before_start(since, ["events", e.index, "timestamp"])
    return None


def _in_order(errors: list[DomainError]) -> list[DomainError]:
    """Errors by the index of their event (errors about the whole call first)."""
    return sorted(errors, key=lambda e: int(e.field[1]) if e.field and len(e.field) > 1 else -1)


async def _aggregate(conn: Any, env: uuid.UUID, events: list[_Event],
                     customers: Mapping[str, EntitlementsState],
                     entitlements: Mapping[uuid.UUID, Any], meters: list[Meter],
                     now: datetime) -> tuple[int, list[CounterKey]]:
    """Fold new events into counters (one statement per fold) and record crossings; returns
    the crossings recorded and the counters written."""
    groups: dict[str, dict[GroupKey, _Group]] = {"ADD": {}, "MAX": {}, "LATEST": {}}
    unique_rows: list[tuple[uuid.UUID, str, str, datetime, datetime, str]] = []
    seen_keys: set[str] = set()
    for e in events:
        if e.key in seen_keys:
            continue  # the same key twice in one batch counts once
        seen_keys.add(e.key)
        customer_pk = customers[e.customer_id].customer_pk
        for meter_row in meters:
            meter = meter_row.meter
            if meter["eventName"] != e.name or not matches(meter, e.dimensions):
                continue
            feature_id = meter_row.feature_id
            effective = entitlements[customer_pk].get(feature_id)
            period = checks.usage_period(effective, e.at)
            key = (customer_pk, feature_id, e.resource_id or "", *checks.period_key(period))
            aggregation = meter["aggregation"]
            fold = {"MAX": "MAX", "LATEST": "LATEST"}.get(aggregation, "ADD")
            group = groups[fold].setdefault(key, _Group())
            group.limit = _limit(effective)
            if aggregation == "COUNT":
                group.total += 1
                continue
            raw_value = e.dimensions.get(meter["field"])
            if aggregation == "UNIQUE_COUNT":
                if raw_value is not None:
                    unique_rows.append((*key, str(raw_value)))
                continue
            number = _number(raw_value)
            if number is None:
                continue
            if aggregation == "SUM":
                group.total += number
            elif aggregation == "MAX":
                group.total = max(group.total, number) if group.latest else number
                group.latest = (e.at, number)
            elif group.latest is None or e.at >= group.latest[0]:
                group.latest = (e.at, number)
    if unique_rows:
        for key in await store.insert_unique_values(conn, unique_rows):
            groups["ADD"][key].total += 1
    limits: dict[GroupKey, float | None] = {}
    updated = []
    for fold, by_key in groups.items():
        rows = []
        for key, group in by_key.items():
            if fold == "LATEST" and group.latest is None:
                continue
            if fold == "MAX" and group.latest is None:
                continue
            value = group.latest[1] if fold == "LATEST" and group.latest else group.total
            if not math.isfinite(value):
                raise _OutOfRange
            stamp = group.latest[0] if group.latest and fold != "ADD" else None
            rows.append((*key, value, stamp))
            limits[key] = group.limit
        updated += await store.apply_aggregates(conn, env, fold, rows, now)
    crossings = []
    for counter in updated:
        limit = limits.get(counter.key)
        if limit:
            crossings += [(*counter.key, t, counter.value, limit) for t in THRESHOLDS
                          if counter.value >= limit * t / 100]
    recorded = await store.insert_crossings(conn, env, crossings, now)
    return recorded, [counter.key for counter in updated]


def _limit(effective: Mapping[str, Any] | None) -> float | None:
    """The limit thresholds are measured against (None: unlimited, not granted, or zero)."""
    limit, _hard = usage_limit(effective)
    return limit or None
