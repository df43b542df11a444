"""Typed rows the store hands to the domain, instead of driver records read by column name.

Frozen (a row is what was read, never a place to write) and slotted (the hot paths build
one or two per request).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

# customer, feature, resource, period start, period end
CounterKey = tuple[uuid.UUID, str, str, datetime, datetime]
Counter = tuple[datetime, datetime, float]  # period start, period end, value


def json_of(value: Any) -> Any:
    """A JSON column's value (the raw pool decodes JSON; a text value is decoded here)."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


@dataclass(frozen=True, slots=True)
class CachedState:
    """An existing customer and the state of its precomputed (cached) entitlements."""

    customer_pk: uuid.UUID
    archived: bool
    cached: bool  # False: never computed (or deleted): compute on read
    valid_until: datetime | None  # they change by themselves then (a trial ends, …)
    has_active_subscription: bool
    entitlements_version: str | None  # the cached row's version (its xmin), None: no row


@dataclass(frozen=True, slots=True)
class FeatureState(CachedState):
    """A customer with its cached entitlement for one feature, and that feature."""

    entitlement: dict[str, Any] | None  # None: not granted, or not cached
    feature_type: str | None  # None: no such feature
    event_fed: bool  # the feature has a meter: fed by raw events
    counters: tuple[Counter, ...] = ()  # its usage counters current at the time asked
    version: str = ""  # the versions of the customer, cached and feature rows (usage batches)


@dataclass(frozen=True, slots=True)
class EntitlementsState(CachedState):
    """A customer with all of its cached entitlements: {featureId: effective entitlement}."""

    entitlements: dict[str, Any]
    state_version: int = 0  # the cached row's `version` (0: never computed); read by push
    computed_at: datetime | None = None  # when the cached row was written


@dataclass(frozen=True, slots=True)
class StateToken:
    """What a customer's whole state (`entitlementsState`) is made of, by version: equal
    tokens, read at two instants before the state's `valid_until`, mean equal states."""

    customer_pk: uuid.UUID
    archived: bool
    cached: bool
    valid_until: datetime | None
    entitlements_version: str | None  # the cached row's xmin: every rewrite changes it
    usage: str  # the current counters: how many, and the greatest version among them
    features: str  # the environment's features: how many, and the greatest row version


@dataclass(frozen=True, slots=True)
class CachedEntitlements:
    """A customer's stored entitlements, as the list reads and the recomputation see them."""

    customer_pk: uuid.UUID
    entitlements: dict[str, Any]  # {featureId: effective entitlement}
    has_active_subscription: bool
    valid_until: datetime | None


def cached_fields(r: asyncpg.Record) -> dict[str, Any]:
    """The `CachedState` fields of a record selecting them under their own names."""
    return {
        "customer_pk": r["customer_pk"],
        "archived": bool(r["archived"]),
        "cached": bool(r["cached"]),
        "valid_until": r["valid_until"],
        "has_active_subscription": bool(r["has_active_subscription"]),
        "entitlements_version": r["entitlements_version"],
    }


@dataclass(frozen=True, slots=True)
class Meter:
    """A feature fed by raw events, and its meter definition."""

    feature_id: str
    meter: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CounterValue:
    key: CounterKey
    value: float


@dataclass(frozen=True, slots=True)
class UsageOutcome:
    """What `allot_record_usage` did with one report: APPLIED, REFUSED, REPLAYED, KEY_REUSED
    or OUT_OF_RANGE; the usage after it (as it stands when REFUSED); the answer stored with
    the key (APPLIED, REPLAYED)."""

    outcome: str
    usage: float | None
    response: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A console login session and its user, as read by the session cookie's hash."""

    pk: uuid.UUID
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_pk: uuid.UUID
    account_pk: uuid.UUID
    email: str
    name: str
    role: str
    disabled_at: datetime | None


@dataclass(frozen=True, slots=True)
class EnvironmentRow:
    """An environment as a session's principal needs it."""

    pk: uuid.UUID
    slug: str
    name: str
    require_customer_tokens: bool


# --- insights (app/store/insights.py) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanCount:
    plan_id: str
    customers: int


@dataclass(frozen=True, slots=True)
class StatusCount:
    status: str
    customers: int


@dataclass(frozen=True, slots=True)
class FeatureUtilizationRow:
    feature_id: str
    customers_with_limit: int
    at_least_80: int
    at_least_100: int


@dataclass(frozen=True, slots=True)
class UsageSpread:
    """Current usage of one feature over the customers granted it: the range (None: no such
    customer) and how many customers fall in each bucket (bucket index → customers)."""

    low: float | None
    high: float | None
    counts: dict[int, int]


@dataclass(frozen=True, slots=True)
class PlanRevenueRow:
    plan_id: str
    currency: str
    amount: Any  # Decimal
    invoices: int
