"""Recording calculated usage in batches.

Reports that arrive while a batch is being written wait for the next one, so under load a
process records many reports with the same two statements, and alone a report is written at
once (no timer). A batch is:

1. one statement for the context of every (customer, feature) in it: the customer, its cached
   entitlement (recomputed first when stale) and the feature's kind, from which each report's
   counter (its usage period) and limits follow;
2. one statement, `allot_record_usage` (migration 0007), that locks the batch's counters,
   applies the reports one after another in arrival order (idempotency keys, DELTA/SET, hard
   limits for `consume`, thresholds) and writes the result: one commit for the batch.

Counters stay exact across processes because they are locked while the batch is applied; a
key stored meanwhile by another process fails the key's unique index, the batch rolls back
and is simply recorded again (the key is then a replay).
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.db import Database
from app.domain import checks
from app.domain.periods import Period
from app.domain.usage import THRESHOLDS, Report, ReportResult, fail, usage_from, usage_limit
from app.errors import DomainError, ErrorCode
from app.store import usage as store
from app.store.usage import CounterKey

MAX_BATCH = 1000  # reports a batch takes (a reportUsageBatch call is never split)
MAX_IN_FLIGHT = int(__import__("os").environ.get("XINF", "2"))  # batches written at once by a process: one computes while one waits
MAX_ATTEMPTS = 5  # a batch that lost a race on a key or a deadlock is computed again


@dataclass(frozen=True)
class Target:
    """Where a report goes, from the customer's effective entitlement."""

    counter: CounterKey
    period: Period | None
    consume_limit: float | None  # None: no hard limit to respect
    threshold_limit: float | None  # thresholds are measured against it; None: no thresholds
    base: dict[str, Any]  # the answer's usageLimit and period, as stored with a key


async def _targets(db: Database, conn: asyncpg.Connection, reports: Sequence[Report]
                   ) -> list[Target | DomainError]:
    """Each report's counter and limits, or the error that stops it."""
    asked = sorted({(r.env, r.customer_id, r.feature_id) for r in reports})
    rows = dict(zip(asked, await store.report_contexts(conn, asked), strict=True))
    effective: dict[tuple[uuid.UUID, str, str], dict[str, Any] | None] = {}
    out: list[Target | DomainError] = []
    for r in reports:
        row = rows[(r.env, r.customer_id, r.feature_id)]
        error = _context_error(r, row)
        if error is not None:
            out.append(error)
            continue
        asked_key = (r.env, r.customer_id, r.feature_id)
        if asked_key not in effective:  # a stale cache is recomputed once per batch
            effective[asked_key] = (await checks.entitlement_of(
                db, r.env, row, r.feature_id, r.now))[0]
        entitlement = effective[asked_key]
        period = checks.usage_period(entitlement, r.at)
        limit, hard = usage_limit(entitlement)
        granted = bool(entitlement and entitlement.get("granted"))
        out.append(Target(
            counter=(row["customer_pk"], r.feature_id, r.resource_key,
                     checks.period_start_of(period)),
            period=period,
            consume_limit=(limit if hard else None) if granted else 0.0,
            threshold_limit=limit,
            base={"usageLimit": limit,
                  "periodStart": period.start.isoformat() if period else None,
                  "periodEnd": period.end.isoformat() if period else None}))
    return out


def _context_error(r: Report, row: Any) -> DomainError | None:
    if row["customer_pk"] is None:
        return DomainError(ErrorCode.CUSTOMER_NOT_FOUND, f"no customer {r.customer_id!r}",
                           ["customerId"])
    if row["archived"]:
        return DomainError(ErrorCode.CUSTOMER_ARCHIVED,
                           f"customer {r.customer_id!r} is archived", ["customerId"])
    if row["feature_type"] is None:
        return DomainError(ErrorCode.FEATURE_NOT_FOUND, f"no feature {r.feature_id!r}",
                           ["featureId"])
    if row["feature_type"] != "METERED":
        return DomainError(ErrorCode.INVALID_INPUT, f"feature {r.feature_id!r} is not metered",
                           ["featureId"])
    if row["event_fed"]:
        return DomainError(ErrorCode.INVALID_INPUT,
                           f"feature {r.feature_id!r} is fed by raw events: use reportEvents",
                           ["featureId"])
    return None


_ERRORS = {
    "KEY_REUSED": (ErrorCode.IDEMPOTENCY_KEY_REUSED,
                   "this idempotency key was used for another report", "idempotencyKey"),
    "OUT_OF_RANGE": (ErrorCode.INVALID_INPUT, "the usage would be out of range", "value"),
    "REFUSED": (ErrorCode.USAGE_LIMIT_EXCEEDED, "the report does not fit under the limit",
                "value"),
}


def _result(r: Report, target: Target, row: Any) -> ReportResult:
    outcome = row["outcome"]
    if outcome in ("APPLIED", "REPLAYED"):
        return ReportResult(True, usage_from(r.customer_id, r.feature_id, r.resource_id,
                                             row["response"]),
                            replayed=outcome == "REPLAYED")
    code, message, field_name = _ERRORS[outcome]
    error = DomainError(code, message, [field_name])
    if outcome != "REFUSED":
        return fail(error)
    # A refused consume answers with the usage as it stands (and stores no key).
    return ReportResult(False, usage_from(r.customer_id, r.feature_id, r.resource_id,
                                          {**target.base, "currentUsage": row["usage"]}), error)


async def record_batch(db: Database, reports: Sequence[Report]) -> list[ReportResult]:
    """Record a batch of validated reports; one result per report, in order."""
    pool = await db.pool()
    async with pool.acquire() as conn:
        targets = await _targets(db, conn, reports)
        live = [(r, t) for r, t in zip(reports, targets, strict=True) if isinstance(t, Target)]
        rows: list[Any] = []
        if live:
            batch = [store.UsageReport(
                counter=t.counter, env=r.env, period_end=t.period.end if t.period else None,
                key=r.key, digest=r.digest, set_=r.mode == "SET", value=r.value,
                consume=r.consume, consume_limit=t.consume_limit,
                threshold_limit=t.threshold_limit, base=t.base) for r, t in live]
            now = max(r.now for r in reports)
            for attempt in range(1, MAX_ATTEMPTS + 1):
                try:
                    rows = await store.record_usage(conn, batch, THRESHOLDS, now)
                    break
                except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError):
                    # Another process stored one of these keys first (or locked in another
                    # order): record again; its keys are now replays.
                    if attempt == MAX_ATTEMPTS:
                        raise
    answers = iter(rows)
    return [fail(t) if isinstance(t, DomainError) else _result(r, t, next(answers))
            for r, t in zip(reports, targets, strict=True)]


@dataclass
class _Group:
    """The reports of one call (a reportUsage or a whole reportUsageBatch) and its answer."""

    reports: Sequence[Report]
    answer: asyncio.Future[list[ReportResult]]


class ReportBatcher:
    """Coalesces the reports arriving concurrently in one process into batches: one batch is
    written at a time, and what arrived meanwhile forms the next."""

    def __init__(self, db: Database, max_batch: int = MAX_BATCH) -> None:
        self._db = db
        self._max_batch = max_batch
        self._waiting: list[_Group] = []
        self._runners: set[asyncio.Task[None]] = set()

    async def submit(self, reports: Sequence[Report]) -> list[ReportResult]:
        loop = asyncio.get_running_loop()
        group = _Group(reports, loop.create_future())
        self._waiting.append(group)
        live = {t for t in self._runners if not t.done() and t.get_loop() is loop}
        if len(live) < MAX_IN_FLIGHT:
            runner = loop.create_task(self._run())
            live.add(runner)
        self._runners = live
        # A caller that goes away (client disconnect) does not cancel the batch's write.
        return await asyncio.shield(group.answer)

    async def _run(self) -> None:
        while self._waiting:
            groups = self._take()
            try:
                results = await record_batch(self._db, [r for g in groups for r in g.reports])
            except BaseException as error:  # every caller of the batch gets the failure
                for g in groups:
                    if not g.answer.done():
                        g.answer.set_exception(error)
                if not isinstance(error, Exception):
                    raise  # cancelled (shutdown): stop
                continue
            start = 0
            for g in groups:
                if not g.answer.done():
                    g.answer.set_result(results[start:start + len(g.reports)])
                start += len(g.reports)

    def _take(self) -> list[_Group]:
        """The oldest groups up to the batch size (always at least one whole group)."""
        taken, size = [], 0
        while self._waiting and (not taken or size + len(self._waiting[0].reports)
                                 <= self._max_batch):
            group = self._waiting.pop(0)
            taken.append(group)
            size += len(group.reports)
        return taken


_BATCHERS: weakref.WeakKeyDictionary[Database, ReportBatcher] = weakref.WeakKeyDictionary()


def batcher_for(db: Database) -> ReportBatcher:
    """The process's batcher for a database (one per Database object)."""
    batcher = _BATCHERS.get(db)
    if batcher is None:
        batcher = _BATCHERS[db] = ReportBatcher(db)
    return batcher
