"""The rules of recording calculated usage (`reportUsage`), stated once, in plain Python.

This is the reference. PostgreSQL executes the same rules: `allot_record_usage` (migration
0008, called by app/store/usage.py) applies a whole batch in one statement while it holds the
batch's counters locked, which Python cannot do without a round trip per report.
tests/store/test_record_usage_rules.py binds the two: for random sequences of reports, split
into random batches, the function answers and writes exactly what `record` says. A rule
changes here first, then in the function (a new migration), and that test holds them together.

The rules, for each report in arrival order, as if it came alone:

1. a key seen before (in the environment) is counted once: the same payload (digest) is
   REPLAYED with the answer stored the first time, another payload is KEY_REUSED;
2. DELTA adds to the counter (it may be negative), SET replaces it; a DELTA that would pass
   the largest float is OUT_OF_RANGE;
3. a `consume` whose positive value would take the counter past the hard limit is REFUSED:
   nothing recorded, no key stored (a retry is evaluated again), the answer carries the usage
   as it stands; soft and unlimited limits always fit, a negative delta always fits;
4. otherwise the report is APPLIED: usage never goes below zero, its key (if any) is stored
   with the answer, and every threshold (% of the limit, when the limit is positive) the new
   usage reaches is recorded once per counter: the first report to reach it keeps it.

A counter is one usage period of one (customer, feature, resource): a report in a new period
goes to a new counter starting at zero (which counter a report goes to is decided before,
from the effective entitlement: app/domain/usage/targets.py).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.domain.usage.reports import usage_limit
from app.store.rows import CounterKey, UsageOutcome
from app.store.usage import UsageReport

LARGEST_FLOAT = sys.float_info.max  # float8's largest value too


class UsageMode(StrEnum):
    """How a report changes its counter (the GraphQL schema exposes this very class)."""

    DELTA = "DELTA"  # adds (may be negative; usage never goes below zero)
    SET = "SET"  # replaces (never negative)


class Outcome(StrEnum):
    """What recording did with one report."""

    APPLIED = "APPLIED"
    REFUSED = "REFUSED"
    REPLAYED = "REPLAYED"
    KEY_REUSED = "KEY_REUSED"
    OUT_OF_RANGE = "OUT_OF_RANGE"


@dataclass(frozen=True)
class StoredKey:
    """An idempotency key as stored: the digest of the first payload, and its answer."""

    digest: str
    response: dict[str, Any]


@dataclass(frozen=True)
class Crossing:
    """A threshold reached: the usage of the report that reached it first, and the limit."""

    usage: float
    limit: float


@dataclass
class Ledger:
    """What recording reads and writes: counters (absent: zero), stored keys by (environment,
    key), thresholds reached by (counter, threshold)."""

    counters: dict[CounterKey, float] = field(default_factory=dict)
    keys: dict[tuple[uuid.UUID, str], StoredKey] = field(default_factory=dict)
    crossings: dict[tuple[CounterKey, int], Crossing] = field(default_factory=dict)

    def copy(self) -> Ledger:
        return Ledger(dict(self.counters), dict(self.keys), dict(self.crossings))


def limits_of(entitlement: Mapping[str, Any] | None) -> tuple[float | None, float | None]:
    """(the limit a consume must fit under, the limit thresholds are measured against) of an
    effective entitlement; None: none. A customer without the feature may consume nothing;
    soft and unlimited limits never refuse."""
    limit, hard = usage_limit(entitlement)
    granted = bool(entitlement and entitlement.get("granted"))
    return ((limit if hard else None) if granted else 0.0), limit


def record(
    ledger: Ledger, reports: Sequence[UsageReport], thresholds: Sequence[int]
) -> tuple[list[UsageOutcome], Ledger]:
    """Each report's outcome (outcome, usage after it or as it stands when refused, answer),
    and the ledger after the reports; `ledger` itself is left as it was."""
    after = ledger.copy()
    return [_record_one(after, r, thresholds) for r in reports], after


def _record_one(ledger: Ledger, r: UsageReport, thresholds: Sequence[int]) -> UsageOutcome:
    slot = (r.env, r.key) if r.key is not None else None
    stored = ledger.keys.get(slot) if slot is not None else None
    if stored is not None:
        if stored.digest == r.digest:
            return UsageOutcome(Outcome.REPLAYED, None, stored.response)
        return UsageOutcome(Outcome.KEY_REUSED, None, None)
    current = ledger.counters.get(r.counter, 0.0)
    if not r.set_ and r.value > 0 and current > LARGEST_FLOAT - r.value:
        return UsageOutcome(Outcome.OUT_OF_RANGE, None, None)
    candidate = r.value if r.set_ else current + r.value
    if r.consume and r.consume_limit is not None and r.value > 0 and candidate > r.consume_limit:
        return UsageOutcome(Outcome.REFUSED, current, None)
    usage = max(candidate, 0.0)
    ledger.counters[r.counter] = usage
    response = {**r.base, "currentUsage": usage}
    if slot is not None:
        ledger.keys[slot] = StoredKey(r.digest, response)
    limit = r.threshold_limit
    if limit is not None and limit > 0:
        for threshold in thresholds:
            if usage >= limit * threshold / 100:
                ledger.crossings.setdefault((r.counter, threshold), Crossing(usage, limit))
    return UsageOutcome(Outcome.APPLIED, usage, response)
