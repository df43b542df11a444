"""Usage idempotency keys are kept for ALLOT_IDEMPOTENCY_RETENTION_DAYS (default 7) and then
pruned by the background job; a retry after that is counted again."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from app.clock import FrozenClock
from app.db import Database
from app.main import create_app
from app.settings import Settings
from app.store import usage as usage_store
from app.workers.jobs import prune_idempotency_keys, run_once
from tests.graphql.usage.conftest import JAN_10, Frozen
from tests.graphql.usage.helpers import key_count, reported, setup, total
from tests.support import GraphQLClient, make_tenant

DAY = timedelta(days=1)


def test_retention_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().idempotency_retention_days == 7
    monkeypatch.delenv("ALLOT_IDEMPOTENCY_RETENTION_DAYS", raising=False)
    assert Settings.from_env().idempotency_retention_days == 7
    monkeypatch.setenv("ALLOT_IDEMPOTENCY_RETENTION_DAYS", "30")
    assert Settings.from_env().idempotency_retention_days == 30


async def test_the_job_prunes_keys_past_retention(frozen: Frozen, db: Database) -> None:
    gql, env = frozen.gql, frozen.env
    await setup(gql, "acme")
    assert await reported(gql, "acme", "storage", 1, idempotencyKey="old") == 1
    frozen.clock.advance(6 * DAY)
    assert await reported(gql, "acme", "storage", 1, idempotencyKey="new") == 2
    # Eight days after the first report: "old" is past 7 days, "new" is not.
    job_clock = FrozenClock(JAN_10 + 8 * DAY)
    await run_once(db, job_clock)
    assert await key_count(db, env) == 1
    frozen.clock.set(job_clock.now())
    assert await reported(gql, "acme", "storage", 1, idempotencyKey="new") == 2  # replayed
    assert await reported(gql, "acme", "storage", 1, idempotencyKey="old") == 3  # counts again
    assert await total(db, env, "acme", "storage") == 3
    # Retention is a parameter of the job; <= 0 keeps every key.
    assert await prune_idempotency_keys(db, FrozenClock(JAN_10 + 400 * DAY), 0) == 0
    assert await key_count(db, env) == 2
    await run_once(db, FrozenClock(JAN_10 + 30 * DAY), retention_days=30)
    assert await key_count(db, env) == 2
    await run_once(db, FrozenClock(JAN_10 + 40 * DAY), retention_days=30)
    assert await key_count(db, env) == 0


async def test_pruning_goes_a_batch_at_a_time(frozen: Frozen, db: Database) -> None:
    gql, env = frozen.gql, frozen.env
    await setup(gql, "acme")
    for i in range(5):
        await reported(gql, "acme", "storage", 1, idempotencyKey=f"b{i}")
    pool = await db.pool()
    async with pool.acquire() as conn:
        before = JAN_10 + DAY
        assert await usage_store.prune_idempotency_keys(conn, before, batch=2) == 2
        assert await usage_store.prune_idempotency_keys(conn, before, batch=2) == 2
    assert await key_count(db, env) == 1


async def test_the_background_job_of_the_app_prunes(database_url: str, db: Database) -> None:
    """create_app wires the setting into the job it runs."""
    clock = FrozenClock(JAN_10 + 100 * DAY)
    settings = Settings(jobs_interval=0.05, idempotency_retention_days=2)
    application = create_app(database_url, settings, clock=clock)
    tenant = await make_tenant(db)
    env = tenant.environments["development"]
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://jobs.test") as http:
            gql = GraphQLClient(http, tenant.server_key)
            await setup(gql, "acme")
            assert await reported(gql, "acme", "storage", 1, idempotencyKey="k") == 1
            await asyncio.sleep(0.3)
            assert await key_count(db, env) == 1  # one day old at most: kept
            clock.advance(3 * DAY)
            for _ in range(200):  # up to 10 s
                if not await key_count(db, env):
                    break
                await asyncio.sleep(0.05)
            assert await key_count(db, env) == 0
