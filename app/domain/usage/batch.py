"""Recording calculated usage in batches.

Reports that arrive while a batch is being written wait for the next one, so under load a
process records many reports with one statement, and alone a report is written at once (no
timer). A batch is:

1. each report's target: its counter (the usage period of the customer's effective
   entitlement) and limits, from contexts kept in the process or read in one statement
   (app/domain/usage/targets.py);
2. one statement, `allot_record_usage` (migration 0008), that checks the kept contexts are
   still current, locks the batch's counters, applies the reports one after another in
   arrival order (idempotency keys, DELTA/SET, hard limits for `consume`, thresholds) and
   writes the result: one commit for the batch.

Counters stay exact across processes because they are locked while the batch is applied; a
key stored meanwhile by another process fails the key's unique index, the batch rolls back
and is simply recorded again (the key is then a replay).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from app.db import Database
from app.domain.usage.reports import THRESHOLDS, Report, ReportResult, fail, usage_from
from app.domain.usage.rules import Outcome
from app.domain.usage.targets import Contexts, Target
from app.errors import DomainError, ErrorCode
from app.store import push as push_store
from app.store import usage as store
from app.store.errors import StaleContext, WriteConflict
from app.store.rows import UsageOutcome

MAX_BATCH = 1000  # reports a batch takes (a reportUsageBatch call is never split)
MAX_IN_FLIGHT = 2  # batches written at once: one is applied while the next one waits
MAX_ATTEMPTS = 5  # a batch that lost a race on a key or a deadlock is computed again


_ERRORS = {
    Outcome.KEY_REUSED: (
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        "this idempotency key was used for another report",
        "idempotencyKey",
    ),
    Outcome.OUT_OF_RANGE: (ErrorCode.INVALID_INPUT, "the usage would be out of range", "value"),
    Outcome.REFUSED: (
        ErrorCode.USAGE_LIMIT_EXCEEDED,
        "the report does not fit under the limit",
        "value",
    ),
}


def _result(r: Report, target: Target, row: UsageOutcome) -> ReportResult:
    outcome = Outcome(row.outcome)
    if outcome in (Outcome.APPLIED, Outcome.REPLAYED):
        assert row.response is not None  # the answer stored with the report
        return ReportResult(True, usage_from(r.customer_id, r.feature_id, r.resource_id,
                                             row.response))
    code, message, field_name = _ERRORS[outcome]
    error = DomainError(code, message, [field_name])
    if outcome != Outcome.REFUSED:
        return fail(error)
    # A refused consume answers with the usage as it stands (and stores no key).
    return ReportResult(False, usage_from(r.customer_id, r.feature_id, r.resource_id,
                                          {**target.base, "currentUsage": row.usage}), error)


async def record_batch(db: Database, contexts: Contexts, reports: Sequence[Report]
                       ) -> list[ReportResult]:
    """Record a batch of validated reports; one result per report, in order."""
    async with db.raw() as conn:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            targets, guards = await contexts.targets(db, conn, reports)
            live = [(r, t) for r, t in zip(reports, targets, strict=True)
                    if isinstance(t, Target)]
            if not live:
                return [fail(t) for t in targets if isinstance(t, DomainError)]
            try:
                rows = await store.record_usage(
                    conn, [_usage_report(r, t) for r, t in live],
                    [g.row() for g in guards],
                    THRESHOLDS, max(r.now for r in reports))
            except WriteConflict:
                # Another process stored one of these keys first (or locked in another
                # order): record again; its keys are now replays.
                if attempt == MAX_ATTEMPTS:
                    raise
                continue
            except StaleContext:
                # A kept context changed since it was read: read it again, then retry.
                contexts.forget([g.asked for g in guards])
                continue
            # Committed (one statement): announce the counters it changed (docs/push.md).
            announcer = push_store.announcer_for(db)
            for (r, t), row in zip(live, rows, strict=True):
                if row.outcome == Outcome.APPLIED:
                    announcer.note(r.env, [t.counter])
            answers = iter(rows)
            return [fail(t) if isinstance(t, DomainError) else _result(r, t, next(answers))
                    for r, t in zip(reports, targets, strict=True)]
    raise RuntimeError(f"usage batch not recorded after {MAX_ATTEMPTS} attempts")


def _usage_report(r: Report, t: Target) -> store.UsageReport:
    return store.UsageReport(
        counter=t.counter, env=r.env, key=r.key, digest=r.digest, set_=r.mode == "SET",
        value=r.value, consume=r.consume, consume_limit=t.consume_limit,
        threshold_limit=t.threshold_limit, base=t.base)


@dataclass
class _Group:
    """The reports of one call (a reportUsage or a whole reportUsageBatch) and its answer."""

    reports: Sequence[Report]
    answer: asyncio.Future[list[ReportResult]]


class ReportBatcher:
    """Coalesces the reports arriving concurrently in one process into batches: at most
    MAX_IN_FLIGHT batches are written at a time, and what arrives meanwhile forms the next."""

    def __init__(self, db: Database, max_batch: int = MAX_BATCH) -> None:
        self._db = db
        self._max_batch = max_batch
        self._waiting: list[_Group] = []
        self._runners: set[asyncio.Task[None]] = set()
        self._contexts = Contexts()

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
                results = await record_batch(self._db, self._contexts,
                                             [r for g in groups for r in g.reports])
            except Exception as error:  # every caller of the batch gets the failure
                for g in groups:
                    if not g.answer.done():
                        g.answer.set_exception(error)
                continue
            except BaseException:  # cancelled (shutdown): so are the batch's callers
                for g in groups:
                    g.answer.cancel()
                raise
            start = 0
            for g in groups:
                if not g.answer.done():
                    g.answer.set_result(results[start:start + len(g.reports)])
                start += len(g.reports)

    def _take(self) -> list[_Group]:
        """The oldest groups up to the batch size (always at least one whole group)."""
        taken: list[_Group] = []
        size = 0
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
