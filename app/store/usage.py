"""SQL for usage: the atomic report statement, event ingestion, history, pruning.

The report is ONE statement: the idempotency lookup, the counter upsert with the hard-limit
condition, the idempotency-key insert and the threshold crossings. Read-then-write would lose
updates under concurrency; this cannot. A concurrent duplicate of a key in flight fails the
key's primary key, which rolls its counter update back with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

NO_PERIOD = datetime(1970, 1, 1, tzinfo=UTC)  # counters of features that never reset

_REPORT_SQL = """
WITH prior AS (
  SELECT request_hash, response FROM usage_idempotency_keys
  WHERE $11::text IS NOT NULL AND environment_pk = $1 AND key = $11
),
upd AS (
  INSERT INTO usage_counters AS c
    (customer_pk, feature_id, resource_key, period_start, environment_pk, period_end, value,
     updated_at)
  SELECT $2, $3, $4, $5, $1, $6, GREATEST($8::float8, 0), $13
  WHERE NOT EXISTS (SELECT 1 FROM prior)
    AND (NOT $9 OR $10::float8 IS NULL OR $8::float8 <= 0 OR $8::float8 <= $10::float8)
  ON CONFLICT (customer_pk, feature_id, resource_key, period_start) DO UPDATE
    SET value = CASE WHEN $7::text = 'SET' THEN $8::float8
                     ELSE GREATEST(c.value + $8::float8, 0) END,
        updated_at = $13
    WHERE NOT $9 OR $10::float8 IS NULL OR $8::float8 <= 0 OR
          (CASE WHEN $7::text = 'SET' THEN $8::float8 ELSE c.value + $8::float8 END)
            <= $10::float8
  RETURNING c.value
),
idem AS (
  INSERT INTO usage_idempotency_keys (environment_pk, key, request_hash, response, created_at)
  SELECT $1, $11, $12, $16::jsonb || jsonb_build_object('currentUsage', upd.value), $13
  FROM upd WHERE $11::text IS NOT NULL
  RETURNING 1
),
thr AS (
  INSERT INTO usage_threshold_crossings
    (customer_pk, feature_id, resource_key, period_start, threshold, environment_pk, usage,
     usage_limit, crossed_at)
  SELECT $2, $3, $4, $5, t, $1, upd.value, $15::float8, $13
  FROM upd, unnest($14::int[]) AS t
  WHERE $15::float8 IS NOT NULL AND $15::float8 > 0 AND upd.value >= $15::float8 * t / 100.0
  ON CONFLICT DO NOTHING
  RETURNING threshold
)
SELECT (SELECT value FROM upd) AS value,
       (SELECT request_hash FROM prior) AS prior_hash,
       (SELECT response FROM prior) AS prior_response,
       (SELECT count(*) FROM idem) AS keyed,
       (SELECT array_agg(threshold ORDER BY threshold) FROM thr) AS crossed
"""


async def report(
    conn: asyncpg.Connection, *, env: uuid.UUID, customer_pk: uuid.UUID, feature_id: str,
    resource_key: str, period_start: datetime, period_end: datetime | None, mode: str,
    value: float, consume: bool, limit: float | None, key: str | None, request_hash: str,
    now: datetime, thresholds: Sequence[int], threshold_limit: float | None,
    response: dict[str, Any],
) -> asyncpg.Record:
    """Record a report atomically. Raises UniqueViolationError when a concurrent report with
    the same key won (the caller then reads that one's answer)."""
    row = await conn.fetchrow(
        _REPORT_SQL, env, customer_pk, feature_id, resource_key, period_start, period_end,
        mode, value, consume, limit, key, request_hash, now, list(thresholds), threshold_limit,
        response)
    assert row is not None
    return row


async def prior_report(conn: asyncpg.Connection, env: uuid.UUID, key: str
                       ) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT request_hash, response FROM usage_idempotency_keys "
        "WHERE environment_pk = $1 AND key = $2", env, key)


async def counter_value(conn: asyncpg.Connection, customer_pk: uuid.UUID, feature_id: str,
                        resource_key: str, period_start: datetime) -> float:
    value = await conn.fetchval(
        "SELECT value FROM usage_counters WHERE customer_pk = $1 AND feature_id = $2 "
        "AND resource_key = $3 AND period_start = $4",
        customer_pk, feature_id, resource_key, period_start)
    return float(value or 0.0)


async def history(conn: asyncpg.Connection, customer_pk: uuid.UUID, feature_id: str,
                  resource_key: str, start: datetime, end: datetime) -> dict[datetime, float]:
    rows = await conn.fetch(
        "SELECT period_start, value FROM usage_counters WHERE customer_pk = $1 "
        "AND feature_id = $2 AND resource_key = $3 AND period_start >= $4 "
        "AND period_start < $5", customer_pk, feature_id, resource_key, start, end)
    return {r["period_start"]: float(r["value"]) for r in rows}


async def prune_idempotency_keys(conn: asyncpg.Connection, before: datetime,
                                 batch: int = 10_000) -> int:
    """Delete keys older than the retention window, a batch at a time."""
    result = await conn.execute(
        "DELETE FROM usage_idempotency_keys WHERE ctid IN (SELECT ctid FROM "
        "usage_idempotency_keys WHERE created_at < $1 LIMIT $2)", before, batch)
    return int(result.split()[-1])


# --- raw events ---------------------------------------------------------------------------


async def customers_by_ids(conn: asyncpg.Connection, env: uuid.UUID, ids: Sequence[str]
                           ) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT c.pk, c.id, c.archived_at, ce.entitlements, ce.valid_until, "
        "ce.has_active_subscription, "
        "ce.customer_pk IS NOT NULL AS cached FROM customers c "
        "LEFT JOIN customer_entitlements ce ON ce.customer_pk = c.pk "
        "WHERE c.environment_pk = $1 AND c.id = ANY($2::text[])", env, list(set(ids)))
    return {r["id"]: r for r in rows}


async def meters_for(conn: asyncpg.Connection, env: uuid.UUID, event_names: Sequence[str]
                     ) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT id, meter FROM features WHERE environment_pk = $1 AND archived_at IS NULL "
        "AND meter IS NOT NULL AND meter->>'eventName' = ANY($2::text[])",
        env, list(set(event_names))))


async def insert_events(conn: asyncpg.Connection, env: uuid.UUID, keys: list[str],
                        customer_pks: list[uuid.UUID], names: list[str],
                        resources: list[str | None], times: list[datetime],
                        dimensions: list[Any], now: datetime) -> set[str]:
    """Insert a batch; returns the keys that were new (the rest were duplicates).

    Rows go in key order (stable: the first of equal keys stays first): concurrent batches
    sharing keys then wait for each other in one order instead of deadlocking."""
    order = sorted(range(len(keys)), key=keys.__getitem__)
    columns: list[list[Any]] = [
        [column[i] for i in order]
        for column in (keys, customer_pks, names, resources, times, dimensions)]
    rows = await conn.fetch(
        "INSERT INTO usage_events (environment_pk, idempotency_key, customer_pk, event_name, "
        "resource_id, occurred_at, dimensions, received_at) "
        "SELECT $1, k, c, n, r, t, d, $8 FROM unnest($2::text[], $3::uuid[], $4::text[], "
        "$5::text[], $6::timestamptz[], $7::jsonb[]) AS e(k, c, n, r, t, d) "
        "ON CONFLICT DO NOTHING RETURNING idempotency_key",
        env, *columns, now)
    return {r["idempotency_key"] for r in rows}


async def insert_unique_values(conn: asyncpg.Connection, customer_pks: list[uuid.UUID],
                               features: list[str], resources: list[str],
                               periods: list[datetime], values: list[str]
                               ) -> list[asyncpg.Record]:
    """Distinct values new to their period; returns them (for the count increments).
    Inserted in sorted order, so concurrent batches lock in one order (no deadlock)."""
    ordered = sorted(zip(customer_pks, features, resources, periods, values, strict=True))
    columns: list[list[Any]] = [[row[i] for row in ordered] for i in range(5)]
    return list(await conn.fetch(
        "INSERT INTO usage_unique_values (customer_pk, feature_id, resource_key, period_start, "
        "value) SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], "
        "$5::text[]) ON CONFLICT DO NOTHING "
        "RETURNING customer_pk, feature_id, resource_key, period_start",
        *columns))


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
ON CONFLICT (customer_pk, feature_id, resource_key, period_start) DO UPDATE SET
  value = {fold},
  last_event_at = GREATEST(c.last_event_at, excluded.last_event_at),
  updated_at = $9
RETURNING c.customer_pk, c.feature_id, c.resource_key, c.period_start, c.value
"""


async def apply_aggregates(conn: asyncpg.Connection, env: uuid.UUID, op: str,
                           rows: list[tuple[Any, ...]], now: datetime) -> list[asyncpg.Record]:
    """Fold aggregated event contributions into counters, one statement per fold `op` (ADD,
    MAX, LATEST). Each row: (customer_pk, feature, resource_key, period_start, period_end,
    value, last_event_at); each counter key appears once."""
    if not rows:
        return []
    # Counters are locked in key order, so concurrent batches never deadlock on them.
    rows = sorted(rows, key=lambda row: row[:4])
    columns = [list(c) for c in zip(*rows, strict=True)]
    return list(await conn.fetch(_APPLY_SQL.format(fold=_FOLD[op]), env, *columns, now))


async def insert_crossings(conn: asyncpg.Connection, env: uuid.UUID,
                           rows: list[tuple[Any, ...]], now: datetime) -> int:
    """rows: (customer_pk, feature, resource_key, period_start, threshold, usage, limit)."""
    if not rows:
        return 0
    rows = sorted(rows, key=lambda row: row[:5])  # one lock order for concurrent batches
    columns = [list(c) for c in zip(*rows, strict=True)]
    result = await conn.fetch(
        "INSERT INTO usage_threshold_crossings (customer_pk, feature_id, resource_key, "
        "period_start, threshold, environment_pk, usage, usage_limit, crossed_at) "
        "SELECT c, f, r, ps, t, $1, u, l, $9 FROM unnest($2::uuid[], $3::text[], $4::text[], "
        "$5::timestamptz[], $6::int[], $7::float8[], $8::float8[]) AS x(c, f, r, ps, t, u, l) "
        "ON CONFLICT DO NOTHING RETURNING threshold", env, *columns, now)
    return len(result)
