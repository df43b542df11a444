"""What a valid usage report is (`reportUsage`), and the answer to one: the checks on
each input item, made before anything is recorded. The rules of recording are in
app/domain/usage/calculated.py; app/domain/usage/batch.py records reports in batches.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

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
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"an idempotency key is 1 to {MAX_KEY_LENGTH} characters", path
        )
    return key


def check_timestamp(value: Any, now: datetime, path: list[str | int]) -> datetime:
    if value is None:
        return now
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "timestamp needs a time zone", path)
    if value > now + MAX_FUTURE_SKEW:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "timestamp is too far in the future (more than 5 minutes)",
            path,
        )
    if value < MIN_TIMESTAMP:
        raise DomainError(ErrorCode.INVALID_INPUT, "timestamp is before 2000-01-01", path)
    return value


def request_hash(item: dict[str, Any]) -> str:
    canonical = {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in sorted(item.items())
        if k != "idempotencyKey"
    }
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
    return Report(
        env=env,
        customer_id=customer_id,
        feature_id=feature_id,
        value=float(value),
        mode=mode,
        consume=bool(item.get("consume")),
        key=key,
        at=at,
        resource_id=item.get("resourceId"),
        digest=request_hash(item),
        now=now,
    )


def usage_limit(effective: Mapping[str, Any] | None) -> tuple[float | None, bool]:
    """(limit for thresholds, whether it is hard). No limit when unlimited or not granted."""
    if effective is None or not effective.get("granted") or effective.get("is_unlimited"):
        return None, False
    limit = effective.get("usage_limit")
    return (float(limit) if limit is not None else 0.0), not effective.get("is_soft_limit")


def usage_from(
    customer_id: str, feature_id: str, resource_id: str | None, data: dict[str, Any]
) -> Usage:
    start, end = data.get("periodStart"), data.get("periodEnd")
    return Usage(
        customer_id=customer_id,
        feature_id=feature_id,
        resource_id=resource_id,
        current_usage=float(data.get("currentUsage") or 0.0),
        usage_limit=data.get("usageLimit"),
        period_start=datetime.fromisoformat(start) if start else None,
        period_end=datetime.fromisoformat(end) if end else None,
    )
