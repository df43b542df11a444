"""Background work: writing down what the clock decided (statuses, end-of-period changes,
default-plan fallbacks), and billing (invoices due at period starts, overdue invoices canceling
their subscriptions). Reads never wait for it; lists and webhooks rely on it.

Safe with several workers or processes: due rows are claimed with SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from app.clock import Clock
from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.domain.billing.job import run_billing
from app.domain.outbound import notifications
from app.domain.subscriptions.changes import apply_due_changes
from app.store import usage as usage_store
from app.store import users as user_store

log = logging.getLogger("allot.jobs")


async def prune_idempotency_keys(db: Database, clock: Clock, retention_days: int) -> int:
    """Forget usage idempotency keys older than `retention_days` (<= 0: keep them forever);
    a retry after that is counted again. Deletes a batch at a time; returns how many."""
    if retention_days <= 0:
        return 0
    before = clock.now() - timedelta(days=retention_days)
    pruned = 0
    async with db.raw() as conn:
        while (deleted := await usage_store.prune_idempotency_keys(conn, before)) > 0:
            pruned += deleted
    if pruned:
        log.info("jobs: pruned %d usage idempotency keys", pruned)
    return pruned


async def prune_sessions(db: Database, clock: Clock) -> int:
    """Forget console sessions past their absolute expiry (they log no one in)."""
    async with db.raw() as conn:
        pruned = await user_store.prune_expired_sessions(conn, clock.now())
    if pruned:
        log.info("jobs: pruned %d expired console sessions", pruned)
    return pruned


async def emit_notifications(db: Database, clock: Clock) -> int:
    """Turn what metering and the calendar recorded into webhook events (exactly once):
    usage threshold crossings, and trials ending soon."""
    emitted = 0
    while True:
        now = clock.now()
        async with audit.transaction(db, AuditActor.system("jobs.notifications", now)) as session:
            batch = await notifications.threshold_crossings(session, now)
            batch += await notifications.trials_ending_soon(session, now)
        emitted += batch
        if batch == 0:
            return emitted


async def run_once(db: Database, clock: Clock, retention_days: int = 7) -> int:
    """One pass; returns how many subscriptions it moved. Loops until nothing is due.
    Also prunes usage idempotency keys past their retention, and expired console sessions."""
    await prune_idempotency_keys(db, clock, retention_days)
    await prune_sessions(db, clock)
    await emit_notifications(db, clock)
    total = 0
    while True:
        now = clock.now()
        async with audit.transaction(db, AuditActor.system("jobs.due_changes", now)) as session:
            moved = await apply_due_changes(session, now)
        now = clock.now()
        async with audit.transaction(db, AuditActor.system("jobs.billing", now)) as session:
            moved += await run_billing(session, now)
        total += moved
        if moved == 0:
            return total


async def run_forever(db: Database, clock: Clock, interval: float,
                      retention_days: int = 7) -> None:
    while True:
        try:
            moved = await run_once(db, clock, retention_days)
            if moved:
                log.info("jobs: moved %d subscriptions", moved)
        except asyncio.CancelledError:
            raise
        except Exception:  # keep the loop alive; the next pass retries
            log.exception("jobs: pass failed")
        await asyncio.sleep(interval)
