"""Trial webhook events come from the job as the clock moves: ending soon (once), then
converted or expired."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.clock import FrozenClock
from app.db import Database
from app.workers.jobs import emit_notifications
from tests.graphql.entitlements.catalog import apply_catalog, new_customer, provision
from tests.graphql.entitlements.conftest import Job
from tests.support import GraphQLClient

ENDPOINT = (
    'mutation { createWebhookEndpoint(input: {url: "https://a.example/h"}) { errors { code } } }'
)


async def _events(db: Database, customer: str) -> list[tuple[str, dict[str, Any]]]:
    pool = await db.pool()
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT type, data FROM webhook_events WHERE type LIKE 'trial.%' "
            "AND data->'subscription'->>'customerId' = $1 ORDER BY occurred_at, type",
            customer,
        )
    return [(r["type"], r["data"]) for r in rows]


async def _trial(tgql: GraphQLClient, customer: str, behavior: str) -> str:
    assert (await tgql.mutate(ENDPOINT))["errors"] == []
    await apply_catalog(tgql)
    await new_customer(tgql, customer)
    payload = await provision(
        tgql,
        customerId=customer,
        planId="analytics-basic",
        resourceId="ws",
        trial={"days": 10, "endBehavior": behavior},
    )
    assert payload["errors"] == [], payload
    return str(payload["subscription"]["id"])


async def test_trial_ending_soon_then_converted(
    tgql: GraphQLClient, db: Database, clock: FrozenClock, run_job: Job
) -> None:
    customer = f"trial-c-{id(clock)}"
    await _trial(tgql, customer, "CONVERT_TO_PAID")
    clock.advance(timedelta(days=8))
    await emit_notifications(db, clock)
    await emit_notifications(db, clock)  # exactly once
    clock.advance(timedelta(days=3))
    await run_job()
    types = [t for t, _ in await _events(db, customer)]
    assert types == ["trial.started", "trial.ending_soon", "trial.converted"]


async def test_trial_expired(
    tgql: GraphQLClient, db: Database, clock: FrozenClock, run_job: Job
) -> None:
    customer = f"trial-x-{id(clock)}"
    await _trial(tgql, customer, "CANCEL")
    clock.advance(timedelta(days=11))
    await run_job()
    events = await _events(db, customer)
    assert [t for t, _ in events] == ["trial.started", "trial.expired"]
    assert events[-1][1]["subscription"]["status"] == "EXPIRED"
