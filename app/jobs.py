"""Background work: writing down what the clock decided (statuses, end-of-period changes,
default-plan fallbacks). Reads never wait for it; lists and webhooks rely on it.

Safe with several workers or processes: due rows are claimed with SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import logging

from app.clock import Clock
from app.db import Database
from app.domain.subscription_changes import apply_due_changes

log = logging.getLogger("allot.jobs")


async def run_once(db: Database, clock: Clock) -> int:
    """One pass; returns how many subscriptions it moved. Loops until nothing is due."""
    total = 0
    while True:
        async with db.transaction() as session:
            moved = await apply_due_changes(session, clock.now())
        total += moved
        if moved == 0:
            return total


async def run_forever(db: Database, clock: Clock, interval: float) -> None:
    while True:
        try:
            moved = await run_once(db, clock)
            if moved:
                log.info("jobs: moved %d subscriptions", moved)
        except asyncio.CancelledError:
            raise
        except Exception:  # keep the loop alive; the next pass retries
            log.exception("jobs: pass failed")
        await asyncio.sleep(interval)
