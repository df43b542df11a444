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
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from app.db import Database
from app.domain import checks
from app.errors import DomainError, ErrorCode
from app.store import customers as customer_store
from app.store import usage as store

THRESHOLDS = (80, 100)  # % of the limit; each crossing is recorded once per period
MAX_FUTURE_SKEW = timedelta(minutes=5)
# Earliest timestamp taken: keeps period arithmetic far from datetime.min (a 500 before).
MIN_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)
MAX_KEY_LENGTH = 200


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
    replayed: bool = False
    crossed: tuple[int, ...] = ()


def _fail(error: DomainError) -> ReportResult:
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


def _validated(item: dict[str, Any], now: datetime) -> tuple[str, str, float, str, bool,
                                                              str | None, datetime]:
    customer_id, feature_id = item.get("customerId"), item.get("featureId")
    if not isinstance(customer_id, str) or not customer_id:
        raise DomainError(ErrorCode.INVALID_INPUT, "customerId is required", ["customerId"])
    if not isinstance(feature_id, str) or not feature_id:
        raise DomainError(ErrorCode.INVALID_INPUT, "featureId is required", ["featureId"])
    value = item.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DomainError(ErrorCode.INVALID_INPUT, "value must be a finite number", ["value"])
    mode = item.get("mode") or "DELTA"
    if mode not in ("DELTA", "SET"):
        raise DomainError(ErrorCode.INVALID_INPUT, "mode is DELTA or SET", ["mode"])
    if mode == "SET" and value < 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "a SET value must not be negative", ["value"])
    key = check_key(item.get("idempotencyKey"), ["idempotencyKey"])
    at = check_timestamp(item.get("timestamp"), now, ["timestamp"])
    return customer_id, feature_id, float(value), mode, bool(item.get("consume")), key, at


async def report_usage(db: Database, env: uuid.UUID, item: dict[str, Any],
                       now: datetime) -> ReportResult:
    try:
        customer_id, feature_id, value, mode, consume, key, at = _validated(item, now)
    except DomainError as error:
        return _fail(error)
    resource_id = item.get("resourceId")
    resource_key = resource_id or ""
    pool = await db.pool()
    async with pool.acquire() as conn:
        row = await customer_store.fetch_check_row(conn, env, customer_id, feature_id,
                                                   resource_key)
        if row["customer_pk"] is None:
            return _fail(DomainError(ErrorCode.CUSTOMER_NOT_FOUND,
                                     f"no customer {customer_id!r}", ["customerId"]))
        if row["archived"]:
            return _fail(DomainError(ErrorCode.CUSTOMER_ARCHIVED,
                                     f"customer {customer_id!r} is archived", ["customerId"]))
        if row["feature_type"] is None:
            return _fail(DomainError(ErrorCode.FEATURE_NOT_FOUND, f"no feature {feature_id!r}",
                                     ["featureId"]))
        if row["feature_type"] != "METERED":
            return _fail(DomainError(ErrorCode.INVALID_INPUT,
                                     f"feature {feature_id!r} is not metered", ["featureId"]))
        if row["event_fed"]:
            return _fail(DomainError(ErrorCode.INVALID_INPUT,
                                     f"feature {feature_id!r} is fed by raw events: use "
                                     "reportEvents", ["featureId"]))
        effective, _ = await checks.entitlement_of(db, env, row, feature_id, now)
        period = checks.usage_period(effective, at)
        limit, hard = usage_limit(effective)
        granted = bool(effective and effective.get("granted"))
        consume_limit = (limit if hard else None) if granted else 0.0
        base = {"usageLimit": limit,
                "periodStart": period.start.isoformat() if period else None,
                "periodEnd": period.end.isoformat() if period else None}
        digest = request_hash(item)
        try:
            result = await store.report(
                conn, env=env, customer_pk=row["customer_pk"], feature_id=feature_id,
                resource_key=resource_key, period_start=checks.period_start_of(period),
                period_end=period.end if period else None, mode=mode, value=value,
                consume=consume, limit=consume_limit,
                key=key, request_hash=digest, now=now, thresholds=THRESHOLDS,
                threshold_limit=limit, response=base)
            prior_hash, prior_response = result["prior_hash"], result["prior_response"]
        except asyncpg.NumericValueOutOfRangeError:  # the counter would overflow float8
            return _fail(DomainError(ErrorCode.INVALID_INPUT,
                                     "the usage would be out of range", ["value"]))
        except asyncpg.UniqueViolationError:
            # A concurrent report with the same key committed first: answer as it did.
            assert key is not None
            prior = await store.prior_report(conn, env, key)
            assert prior is not None
            result, prior_hash, prior_response = None, prior["request_hash"], prior["response"]
        if prior_hash is not None:
            if prior_hash != digest:
                return _fail(DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED,
                                         "this idempotency key was used for another report",
                                         ["idempotencyKey"]))
            return ReportResult(True, _usage(customer_id, feature_id, resource_id,
                                             prior_response), replayed=True)
        assert result is not None
        if result["value"] is None:
            current = await store.counter_value(conn, row["customer_pk"], feature_id,
                                                resource_key, checks.period_start_of(period))
            return ReportResult(False, _usage(customer_id, feature_id, resource_id,
                                              {**base, "currentUsage": current}),
                                DomainError(ErrorCode.USAGE_LIMIT_EXCEEDED,
                                            "the report does not fit under the limit",
                                            ["value"]))
    return ReportResult(True, _usage(customer_id, feature_id, resource_id,
                                     {**base, "currentUsage": result["value"]}),
                        crossed=tuple(result["crossed"] or ()))


def usage_limit(effective: Mapping[str, Any] | None) -> tuple[float | None, bool]:
    """(limit for thresholds, whether it is hard). No limit when unlimited or not granted."""
    if effective is None or not effective.get("granted") or effective.get("is_unlimited"):
        return None, False
    limit = effective.get("usage_limit")
    return (float(limit) if limit is not None else 0.0), not effective.get("is_soft_limit")


def _usage(customer_id: str, feature_id: str, resource_id: str | None,
           data: dict[str, Any]) -> Usage:
    start, end = data.get("periodStart"), data.get("periodEnd")
    return Usage(customer_id=customer_id, feature_id=feature_id, resource_id=resource_id,
                 current_usage=float(data.get("currentUsage") or 0.0),
                 usage_limit=data.get("usageLimit"),
                 period_start=datetime.fromisoformat(start) if start else None,
                 period_end=datetime.fromisoformat(end) if end else None)
