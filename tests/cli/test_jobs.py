"""`allot jobs run-once`: the operator's one pass of background work, as a real process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from app.db import Database
from tests.graphql.entitlements.catalog import apply_catalog, new_customer, provision
from tests.support import GraphQLClient


async def test_jobs_run_once_writes_statuses(gql: GraphQLClient, db: Database,
                                             database_url: str) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    past = datetime.now(UTC) - timedelta(days=30)
    payload = await provision(gql, customerId="acme", planId="analytics-basic",
                              resourceId="ws", startDate=past.isoformat(),
                              trial={"days": 1, "endBehavior": "CONVERT_TO_PAID"})
    assert payload["errors"] == [], payload
    pool = await db.pool()
    async with pool.acquire() as conn:  # what a long-stopped server left behind
        await conn.execute("UPDATE subscriptions SET status = 'IN_TRIAL' WHERE id = $1",
                           payload["subscription"]["id"])
    env = {**os.environ, "DATABASE_URL": database_url}
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "app.cli", "jobs", "run-once"], env=env,
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "jobs moved" in result.stdout
    async with pool.acquire() as conn:
        status = await conn.fetchval("SELECT status FROM subscriptions WHERE id = $1",
                                     payload["subscription"]["id"])
    assert status == "ACTIVE"
