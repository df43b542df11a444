"""Calculated usage: `reportUsage` — a DELTA or a SET on the counter of the usage period,
idempotent by key, optionally consuming atomically under a hard limit.

Rules (docs/usage.md):
* DELTA adds (may be negative; usage never goes below zero); SET replaces (>= 0);
* the period is the effective entitlement's usage period containing the report's timestamp
  (now by default); a new period is a new counter, starting at zero;
* a plan change keeps the current usage when the new entitlement has the same period (same
  counter); a different reset period or anchor starts a new counter;
* `consume` records only if the result fits under the hard limit (soft and unlimited limits
  always fit; a customer without the feature has a limit of zero); a negative delta always
  fits;
* a key seen before is counted once and answers as the first report did; the same key with
  a different payload is IDEMPOTENCY_KEY_REUSED. Rejected consumes store no key (a retry is
  evaluated again).

This module validates reports; app/domain/usage_batch.py records them in batches, and the
rules above are applied, report after report, by `allot_record_usage` (migration 0008).
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from app.db import Database
from app.errors import DomainError, ErrorCode

THRESHOLDS = (80, 100)  # % of the limit; each crossing is recorded once per period
MAX_FUTURE_SKEW = timedelta(minutes=5)
# Earliest timestamp taken: keeps period arithmetic far from datetime.min (a 500 before).
MIN_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)
MAX_KEY_LENGTH = 200
# Largest usage value taken (either sign): counters, thresholds and webhook payloads then stay
# far from float overflow (1e308 was accepted, and its threshold webhook could never be sent).
MAX_USAGE_VALUE = 1e15


@dataclass(frozen=True)
class Usage:
    customer_id: str
    feature_id: str
    resource_id: str | None
    current_usage: float
    usage_limit: float | None
    period_start: datetime | None
    period_end: datetime | None


@dataclass(frozen=True)
class ReportResult:
    accepted: bool
    usage: Usage | None
    error: DomainError | None = None


def fail(error: DomainError) -> ReportResult:
    return ReportResult(accepted=False, usage=None, error=error)


def check_key(key: Any, path: list[str | int]) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise DomainError(ErrorCode.INVALID_INPUT,
                          f"an idempotency key is 1 to {MAX_KEY_LENGTH} characters", path)
    return key


def check_timestamp(value: Any, now: datetime, path: list[str | int]) -> datetime:
    if value is None:
        return now
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "timestamp needs a time zone", path)
    if value > now + MAX_FUTURE_SKEW:
        raise DomainError(ErrorCode.INVALID_INPUT,
                          "timestamp is too far in the future (more than 5 minutes)", path)
    if value < MIN_TIMESTAMP:
        raise DomainError(ErrorCode.INVALID_INPUT, "timestamp is before 2000-01-01", path)
    return value


def request_hash(item: dict[str, Any]) -> str:
    canonical = {k: (v.isoformat() if isinstance(v, datetime) else v)
                 for k, v in sorted(item.items()) if k != "idempotencyKey"}
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class Report:
    """A validated report, ready for a batch."""

    env: uuid.UUID
    customer_id: str
    feature_id: str
    value: float
    mode: str
    consume: bool
    key: str | None
    at: datetime
    resource_id: str | None
    digest: str
    now: datetime

    @property
    def resource_key(self) -> str:
        return self.resource_id or ""


def validated(env: uuid.UUID, item: dict[str, Any], now: datetime) -> Report:
    """The report an input item asks for, or DomainError (nothing is recorded)."""
    customer_id, feature_id = item.get("customerId"), item.get("featureId")
    if not isinstance(customer_id, str) or not customer_id:
        raise DomainError(ErrorCode.INVALID_INPUT, "customerId is required", ["customerId"])
    if not isinstance(feature_id, str) or not feature_id:
        raise DomainError(ErrorCode.INVALID_INPUT, "featureId is required", ["featureId"])
    value = item.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DomainError(ErrorCode.INVALID_INPUT, "value must be a finite number", ["value"])
    if abs(value) > MAX_USAGE_VALUE:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"value must be within ±{MAX_USAGE_VALUE:.0e}", ["value"]
        )
    mode = item.get("mode") or "DELTA"
    if mode not in ("DELTA", "SET"):
        raise DomainError(ErrorCode.INVALID_INPUT, "mode is DELTA or SET", ["mode"])
    if mode == "SET" and value < 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "a SET value must not be negative", ["value"])
    key = check_key(item.get("idempotencyKey"), ["idempotencyKey"])
    at = check_timestamp(item.get("timestamp"), now, ["timestamp"])
    return Report(env=env, customer_id=customer_id, feature_id=feature_id, value=float(value),
                  mode=mode, consume=bool(item.get("consume")), key=key, at=at,
                  resource_id=item.get("resourceId"), digest=request_hash(item), now=now)


async def report_usage(db: Database, env: uuid.UUID, item: dict[str, Any],
                       now: datetime) -> ReportResult:
    return (await report_usages(db, env, [item], now))[0]


async def report_usages(db: Database, env: uuid.UUID, items: Sequence[dict[str, Any]],
                        now: datetime) -> list[ReportResult]:
    """Record reports, each on its own (one failing does not stop the others), answering in
    order. Valid ones join this process's next batch (app/domain/usage_batch.py)."""
    from app.domain.usage_batch import batcher_for

    results: list[ReportResult | None] = []
    reports: list[Report] = []
    for item in items:
        try:
            reports.append(validated(env, item, now))
            results.append(None)
        except DomainError as error:
            results.append(fail(error))
    recorded = iter(await batcher_for(db).submit(reports) if reports else [])
    return [result if result is not None else next(recorded) for result in results]


def usage_limit(effective: Mapping[str, Any] | None) -> tuple[float | None, bool]:
    """(limit for thresholds, whether it is hard). No limit when unlimited or not granted."""
    if effective is None or not effective.get("granted") or effective.get("is_unlimited"):
        return None, False
    limit = effective.get("usage_limit")
    return (float(limit) if limit is not None else 0.0), not effective.get("is_soft_limit")


def usage_from(customer_id: str, feature_id: str, resource_id: str | None,
               data: dict[str, Any]) -> Usage:
    start, end = data.get("periodStart"), data.get("periodEnd")
    return Usage(customer_id=customer_id, feature_id=feature_id, resource_id=resource_id,
                 current_usage=float(data.get("currentUsage") or 0.0),
                 usage_limit=data.get("usageLimit"),
                 period_start=datetime.fromisoformat(start) if start else None,
                 period_end=datetime.fromisoformat(end) if end else None)
