"""SQL for usage: recording reports, event ingestion, history, pruning.

A batch of reports is ONE statement (`allot_record_usage`, migration 0008): it locks the
counters, applies the reports in order (idempotency keys, hard limits, thresholds) and writes
the result. Read-then-write from the application would lose updates under concurrency; this
cannot. A concurrent duplicate of a key in flight fails the key's primary key, which rolls the
whole batch back with it (the caller runs it again).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from app.db import RawConnection
from app.store.errors import OutOfRange, StaleContext, WriteConflict
from app.store.rows import (
    CounterKey,
    CounterValue,
    EntitlementsState,
    FeatureState,
    Meter,
    UsageOutcome,
    cached_fields,
    json_of,
)

# The period of a counter that never resets.
NO_PERIOD = datetime(1970, 1, 1, tzinfo=UTC)
NO_PERIOD_END = datetime(9999, 12, 31, tzinfo=UTC)

# The context of a batch of reports, one row per (environment, customer, feature) asked:
# the customer, its cached entitlement for the feature and the feature's kind, with the
# versions of the three rows (their xmin: any update of a row gives it a new one), which
# `allot_record_usage` checks when the context is reused by a later batch.
_CONTEXTS_SQL = """
SELECT q.ord,
       c.pk AS customer_pk,
       c.archived_at IS NOT NULL AS archived,
       fe.entitlement,
       ce.has_active_subscription,
       ce.valid_until,
       ce.customer_pk IS NOT NULL AS cached,
       f.type AS feature_type,
       f.meter IS NOT NULL AS event_fed,
       concat_ws(':', coalesce(c.xmin::text, '-'), coalesce(ce.xmin::text, '-'),
                 coalesce(f.xmin::text, '-')) AS version,
       ce.xmin::text AS entitlements_version
FROM unnest($1::uuid[], $2::text[], $3::text[]) WITH ORDINALITY AS q(env, customer, feature, ord)
LEFT JOIN customers c ON c.environment_pk = q.env AND c.id = q.customer
LEFT JOIN customer_entitlements ce ON ce.customer_pk = c.pk
LEFT JOIN customer_feature_entitlements fe ON fe.customer_pk = ce.customer_pk
                                           AND fe.feature_id = q.feature
LEFT JOIN features f ON f.environment_pk = q.env AND f.id = q.feature
ORDER BY q.ord
"""

async def report_contexts(conn: RawConnection, asked: Sequence[tuple[uuid.UUID, str, str]]
                          ) -> list[FeatureState | None]:
    """One row per (environment, customer id, feature id) asked, in the same order (None: no
    such customer)."""
    columns = [list(c) for c in zip(*asked, strict=True)] if asked else [[], [], []]
    return [None if r["customer_pk"] is None else FeatureState(
        **cached_fields(r), entitlement=json_of(r["entitlement"]),
        feature_type=r["feature_type"], event_fed=bool(r["event_fed"]), version=r["version"])
        for r in await conn.fetch(_CONTEXTS_SQL, *columns)]


@dataclass(frozen=True)
class UsageReport:
    """One report of a batch, for `record_usage`."""

    counter: CounterKey
    env: uuid.UUID
    key: str | None
    digest: str
    set_: bool
    value: float
    consume: bool
    consume_limit: float | None
    threshold_limit: float | None
    base: dict[str, Any]


@functools.cache
def _record_sql(names: tuple[str, ...]) -> str:
    """The call of `allot_record_usage` in named notation (`name => $n`)."""
    named = ", ".join(f"{name} => ${n}" for n, name in enumerate(names, start=1))
    return f"SELECT * FROM allot_record_usage({named})"


async def record_usage(conn: RawConnection, reports: Sequence[UsageReport],
                       guards: Sequence[tuple[uuid.UUID, uuid.UUID, str, str]],
                       thresholds: Sequence[int], now: datetime) -> list[UsageOutcome]:
    """Apply a batch of reports in order with `allot_record_usage` (migration 0008): one
    statement, one commit. One row per report: outcome (APPLIED, REFUSED, REPLAYED,
    KEY_REUSED, OUT_OF_RANGE), usage (after it, or as it stands when REFUSED) and response
    (the answer, as stored with the key). `guards` (customer pk, environment, feature,
    version) are contexts read by earlier batches: if any of their rows changed since,
    nothing is recorded and StaleContext is raised. A key stored meanwhile by another
    transaction (or a deadlock) raises WriteConflict, and nothing is written."""
    envs = {r.counter: r.env for r in reports}
    counters = sorted(envs)  # the lock order
    index = {counter: i for i, counter in enumerate(counters, start=1)}
    first: dict[tuple[uuid.UUID, str], int] = {}
    slots = [first.setdefault((r.env, r.key), i) if r.key is not None else i
             for i, r in enumerate(reports, start=1)]
    # By name, so no two arguments of the same type can be swapped without an error.
    arguments: dict[str, list[Any] | datetime] = {
        "g_customer": [g[0] for g in guards], "g_env": [g[1] for g in guards],
        "g_feature": [g[2] for g in guards], "g_version": [g[3] for g in guards],
        "c_customer": [c[0] for c in counters], "c_feature": [c[1] for c in counters],
        "c_resource": [c[2] for c in counters], "c_start": [c[3] for c in counters],
        "c_env": [envs[c] for c in counters], "c_end": [c[4] for c in counters],
        "i_counter": [index[r.counter] for r in reports], "i_slot": slots,
        "i_key": [r.key for r in reports], "i_digest": [r.digest for r in reports],
        "i_set": [r.set_ for r in reports], "i_value": [r.value for r in reports],
        "i_consume": [r.consume for r in reports],
        "i_limit": [r.consume_limit for r in reports],
        "i_threshold_limit": [r.threshold_limit for r in reports],
        "i_base": [r.base for r in reports], "thresholds": list(thresholds), "at": now}
    try:
        rows = await conn.fetch(_record_sql(tuple(arguments)), *arguments.values())
    except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError) as error:
        raise WriteConflict(str(error)) from error
    if rows and rows[0]["outcome"] == "STALE":  # the function's answer for a changed context
        raise StaleContext("a context read by an earlier batch changed")
    return [UsageOutcome(r["outcome"], r["usage"], r["response"]) for r in rows]


async def counter_value(conn: RawConnection, customer_pk: uuid.UUID, feature_id: str,
                        resource_key: str, period: tuple[datetime, datetime]) -> float:
    """The usage of one period (start, end); zero when nothing was counted."""
    value = await conn.fetchval(
        "SELECT value FROM usage_counters WHERE customer_pk = $1 AND feature_id = $2 "
        "AND resource_key = $3 AND period_start = $4 AND period_end = $5",
        customer_pk, feature_id, resource_key, *period)
    return float(value or 0.0)


async def history(conn: RawConnection, customer_pk: uuid.UUID, feature_id: str,
                  resource_key: str, start: datetime, end: datetime
                  ) -> dict[tuple[datetime, datetime], float]:
    """Counters whose period starts in [start, end), by (period start, period end)."""
    rows = await conn.fetch(
        "SELECT period_start, period_end, value FROM usage_counters WHERE customer_pk = $1 "
        "AND feature_id = $2 AND resource_key = $3 AND period_start >= $4 "
        "AND period_start < $5", customer_pk, feature_id, resource_key, start, end)
    return {(r["period_start"], r["period_end"]): float(r["value"]) for r in rows}


async def prune_idempotency_keys(conn: RawConnection, before: datetime,
                                 batch: int = 10_000) -> int:
    """Delete keys older than the retention window, a batch at a time."""
    result = await conn.execute(
        "DELETE FROM usage_idempotency_keys WHERE ctid IN (SELECT ctid FROM "
        "usage_idempotency_keys WHERE created_at < $1 LIMIT $2)", before, batch)
    return int(result.split()[-1])


# --- raw events ---------------------------------------------------------------------------


async def customers_by_ids(conn: RawConnection, env: uuid.UUID, ids: Sequence[str],
                           features: Sequence[str]) -> dict[str, EntitlementsState]:
    """The customers with these ids that exist, with their cached entitlements for these
    features only and without their sources (events need the usage period and the limits, not
    why). PostgreSQL extracts each one (`entitlements -> feature`, a row per customer and
    feature), so a batch over many customers neither ships nor parses each customer's whole
    document (measured at 1,000 customers: 20 ms against 60-90 ms)."""
    rows = await conn.fetch(
        "SELECT c.pk AS customer_pk, c.id, c.archived_at IS NOT NULL AS archived, "
        "f.id AS feature_id, fe.entitlement - 'sources' AS entitlement, "
        "ce.valid_until, ce.has_active_subscription, "
        "ce.xmin::text AS entitlements_version, "
        "ce.customer_pk IS NOT NULL AS cached FROM unnest($2::text[]) asked(id) "
        # One index probe per id: for a thousand ids the planner would rather scan the
        # whole table (estimated cheaper, measured several times slower at 100,000 rows).
        "CROSS JOIN LATERAL (SELECT * FROM customers WHERE environment_pk = $1 "
        "AND id = asked.id LIMIT 1) c "
        "LEFT JOIN customer_entitlements ce ON ce.customer_pk = c.pk "
        "LEFT JOIN LATERAL unnest($3::text[]) f(id) ON true "
        "LEFT JOIN customer_feature_entitlements fe ON fe.customer_pk = ce.customer_pk "
        "AND fe.feature_id = f.id",
        env, list(set(ids)), sorted(set(features)))
    found: dict[str, EntitlementsState] = {}
    for r in rows:
        state = found.get(r["id"])
        if state is None:
            state = found[r["id"]] = EntitlementsState(**cached_fields(r), entitlements={})
        entitlement = json_of(r["entitlement"])
        if entitlement is not None:
            state.entitlements[r["feature_id"]] = entitlement
    return found


async def meters_for(conn: RawConnection, env: uuid.UUID, event_names: Sequence[str]
                     ) -> list[Meter]:
    """The live features whose meter counts one of these events."""
    rows = await conn.fetch(
        "SELECT id, meter FROM features WHERE environment_pk = $1 AND archived_at IS NULL "
        "AND meter IS NOT NULL AND meter->>'eventName' = ANY($2::text[])",
        env, list(set(event_names)))
    return [Meter(r["id"], r["meter"]) for r in rows]


async def insert_events(conn: RawConnection, env: uuid.UUID, keys: list[str],
                        customer_pks: list[uuid.UUID], names: list[str],
                        resources: list[str | None], times: list[datetime],
                        dimensions: list[Any], hashes: list[str], now: datetime) -> set[str]:
    """Insert a batch; returns the keys that were new (the rest were stored before).

    Rows go in key order (stable: the first of equal keys stays first): concurrent batches
    sharing keys then wait for each other in one order instead of deadlocking."""
    order = sorted(range(len(keys)), key=keys.__getitem__)
    columns: list[list[Any]] = [
        [column[i] for i in order]
        for column in (keys, customer_pks, names, resources, times, dimensions, hashes)]
    rows = await conn.fetch(
        "INSERT INTO usage_events (environment_pk, idempotency_key, customer_pk, event_name, "
        "resource_id, occurred_at, dimensions, request_hash, received_at) "
        "SELECT $1, k, c, n, r, t, d, h, $9 FROM unnest($2::text[], $3::uuid[], $4::text[], "
        "$5::text[], $6::timestamptz[], $7::jsonb[], $8::text[]) AS e(k, c, n, r, t, d, h) "
        "ON CONFLICT DO NOTHING RETURNING idempotency_key",
        env, *columns, now)
    return {r["idempotency_key"] for r in rows}


async def event_hashes(conn: RawConnection, env: uuid.UUID, keys: Sequence[str]
                       ) -> dict[str, str | None]:
    """The stored payload hash of each key (None: stored before hashes were kept)."""
    rows = await conn.fetch(
        "SELECT idempotency_key, request_hash FROM usage_events WHERE environment_pk = $1 "
        "AND idempotency_key = ANY($2::text[])", env, list(keys))
    return {r["idempotency_key"]: r["request_hash"] for r in rows}


async def insert_unique_values(conn: RawConnection,
                               rows: Sequence[tuple[uuid.UUID, str, str, datetime, datetime, str]]
                               ) -> list[CounterKey]:
    """Distinct values new to their period; returns their counters (one per value, for the
    count increments). Each
    row: (customer_pk, feature, resource_key, period_start, period_end, value). Inserted in
    sorted order, so concurrent batches lock in one order (no deadlock)."""
    ordered = sorted(rows)
    columns: list[list[Any]] = [[row[i] for row in ordered] for i in range(6)]
    inserted = await conn.fetch(
        "INSERT INTO usage_unique_values (customer_pk, feature_id, resource_key, period_start, "
        "period_end, value) SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], "
        "$4::timestamptz[], $5::timestamptz[], $6::text[]) ON CONFLICT DO NOTHING "
        "RETURNING customer_pk, feature_id, resource_key, period_start, period_end",
        *columns)
    return [(r["customer_pk"], r["feature_id"], r["resource_key"], r["period_start"],
             r["period_end"]) for r in inserted]


_FOLD = {
    # COUNT, SUM, UNIQUE_COUNT: contributions add up.
    "ADD": "c.value + excluded.value",
    "MAX": "GREATEST(c.value, excluded.value)",
    # LATEST: the value of the newest event wins, whatever order events arrive in.
    "LATEST": "CASE WHEN c.last_event_at IS NULL OR excluded.last_event_at >= c.last_event_at "
              "THEN excluded.value ELSE c.value END",
}

_APPLY_SQL = """
INSERT INTO usage_counters AS c
  (customer_pk, feature_id, resource_key, period_start, environment_pk, period_end, value,
   last_event_at, updated_at)
SELECT u.c, u.f, u.r, u.ps, $1, u.pe, u.v, u.t, $9
FROM unnest($2::uuid[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[],
            $7::float8[], $8::timestamptz[]) AS u(c, f, r, ps, pe, v, t)
ON CONFLICT (customer_pk, feature_id, resource_key, period_start, period_end) DO UPDATE SET
  value = {fold},
  last_event_at = GREATEST(c.last_event_at, excluded.last_event_at),
  updated_at = $9
RETURNING c.customer_pk, c.feature_id, c.resource_key, c.period_start, c.period_end, c.value
"""


async def apply_aggregates(conn: RawConnection, env: uuid.UUID, op: str,
                           rows: list[tuple[Any, ...]], now: datetime) -> list[CounterValue]:
    """Fold aggregated event contributions into counters, one statement per fold `op` (ADD,
    MAX, LATEST). Each row: (customer_pk, feature, resource_key, period_start, period_end,
    value, last_event_at); each counter (the first five) appears once. Returns the counters
    as they are after it; OutOfRange (nothing written) when one would overflow."""
    if not rows:
        return []
    # Counters are locked in key order, so concurrent batches never deadlock on them.
    rows = sorted(rows, key=lambda row: row[:5])
    columns = [list(c) for c in zip(*rows, strict=True)]
    try:
        updated = await conn.fetch(_APPLY_SQL.format(fold=_FOLD[op]), env, *columns, now)
    except asyncpg.NumericValueOutOfRangeError as error:
        raise OutOfRange(str(error)) from error
    return [CounterValue((r["customer_pk"], r["feature_id"], r["resource_key"],
                          r["period_start"], r["period_end"]), float(r["value"]))
            for r in updated]


async def insert_crossings(conn: RawConnection, env: uuid.UUID,
                           rows: list[tuple[Any, ...]], now: datetime) -> int:
    """rows: (customer_pk, feature, resource_key, period_start, period_end, threshold, usage,
    limit)."""
    if not rows:
        return 0
    rows = sorted(rows, key=lambda row: row[:6])  # one lock order for concurrent batches
    columns = [list(c) for c in zip(*rows, strict=True)]
    result = await conn.fetch(
        "INSERT INTO usage_threshold_crossings (customer_pk, feature_id, resource_key, "
        "period_start, period_end, threshold, environment_pk, usage, usage_limit, crossed_at) "
        "SELECT c, f, r, ps, pe, t, $1, u, l, $10 FROM unnest($2::uuid[], $3::text[], "
        "$4::text[], $5::timestamptz[], $6::timestamptz[], $7::int[], $8::float8[], "
        "$9::float8[]) AS x(c, f, r, ps, pe, t, u, l) "
        "ON CONFLICT DO NOTHING RETURNING threshold", env, *columns, now)
    return len(result)
