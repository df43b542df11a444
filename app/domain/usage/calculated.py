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

Reports are validated by app/domain/usage/reports.py and recorded in batches by
app/domain/usage/batch.py. The recording rules are stated in app/domain/usage/rules.py (the
reference) and executed, report after report, by `allot_record_usage` (migration 0008); a
property test binds the two (docs/usage.md, "Where the rules live").
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.db import Database
from app.domain.usage.batch import batcher_for
from app.domain.usage.reports import Report, ReportResult, fail, validated
from app.errors import DomainError


async def report_usage(db: Database, env: uuid.UUID, item: dict[str, Any],
                       now: datetime) -> ReportResult:
    return (await report_usages(db, env, [item], now))[0]


async def report_usages(db: Database, env: uuid.UUID, items: Sequence[dict[str, Any]],
                        now: datetime) -> list[ReportResult]:
    """Record reports, each on its own (one failing does not stop the others), answering in
    order. Valid ones join this process's next batch (app/domain/usage/batch.py)."""
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
