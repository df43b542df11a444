"""Usage through the SDK against a real server process: batched, exactly once, through
SIGKILLs and restarts; a full queue blocks then raises; consume is atomic on the server."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from allot_sdk import AllotClient, AsyncAllotClient, UsageQueueFull

from app.db import Database
from tests.graphql.usage.helpers import key_count, total
from tests.graphql.usage.server import ApiServer
from tests.support import Tenant

pytestmark = pytest.mark.e2e


async def test_reports_are_recorded_once_each_in_batches(
    api: ApiServer, tenant: Tenant, customer: str, db: Database
) -> None:
    env = tenant.environments["development"]
    async with AsyncAllotClient(api.base_url, tenant.server_key, batch_size=500) as allot:
        for _ in range(2_400):
            await allot.report_usage(customer, "storage", 1)
        await allot.report_usage(customer, "seats", 2, mode="SET")
        assert allot.pending_usage > 0  # accepted at once, sent in the background
        await allot.flush(timeout=60)
        assert allot.pending_usage == 0
    assert await total(db, env, customer, "storage") == 2_400
    assert await total(db, env, customer, "seats") == 2
    assert await key_count(db, env) == 2_401


async def test_killed_server_mid_flush_loses_and_doubles_nothing(
    api: ApiServer, tenant: Tenant, customer: str, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    env = tenant.environments["development"]
    reports, kills = 6_000, 2
    caplog.set_level(logging.WARNING, logger="allot_sdk")
    async with AsyncAllotClient(api.base_url, tenant.server_key, request_timeout=5.0) as allot:
        engine = allot._engine

        async def produce() -> None:
            for n in range(reports):
                await allot.report_usage(customer, "storage", 1)
                if n % 200 == 0:
                    await asyncio.sleep(0.005)

        producer = asyncio.create_task(produce())
        for _ in range(kills):
            deadline = time.monotonic() + 60
            while engine.usage.queue._in_flight == 0:  # a batch is on its way: kill mid-flush
                assert time.monotonic() < deadline, "no batch ever left"
                await asyncio.sleep(0.001)
            await asyncio.to_thread(api.kill)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(api.start)
        await producer
        await allot.flush(timeout=120)
    assert api.starts == 1 + kills
    retried = [r for r in caplog.records if "not acknowledged" in r.getMessage()]
    assert retried, "the kills interrupted no batch: the test proved nothing"
    assert await total(db, env, customer, "storage") == reports
    assert await key_count(db, env) == reports


async def test_a_full_queue_blocks_then_raises_and_loses_nothing(
    api: ApiServer, tenant: Tenant, customer: str, db: Database
) -> None:
    env = tenant.environments["development"]
    await asyncio.to_thread(api.kill)  # allot is down: nothing leaves the queue
    async with AsyncAllotClient(
        api.base_url, tenant.server_key, max_queue=50, enqueue_timeout=0.3, request_timeout=1.0
    ) as allot:
        for _ in range(50):
            await allot.report_usage(customer, "storage", 1)
        started = time.monotonic()
        with pytest.raises(UsageQueueFull):
            await allot.report_usage(customer, "storage", 1)
        assert time.monotonic() - started >= 0.3
        await asyncio.to_thread(api.start)
        await allot.flush(timeout=60)
    assert await total(db, env, customer, "storage") == 50


async def test_refused_reports_are_answered_not_retried(
    api: ApiServer, tenant: Tenant, customer: str
) -> None:
    refused: list[tuple[dict[str, Any], str]] = []
    async with AsyncAllotClient(
        api.base_url,
        tenant.server_key,
        on_usage_error=lambda item, code, message: refused.append((item, code)),
    ) as allot:
        await allot.report_usage(customer, "no-such-feature", 1)
        await allot.report_usage("no-such-customer", "storage", 1)
        await allot.report_usage(customer, "storage", 1)
        await allot.flush(timeout=30)
    assert sorted(item["featureId"] for item, _ in refused) == ["no-such-feature", "storage"]
    assert all(code for _, code in refused)


async def test_consume_is_atomic_on_the_server(
    api: ApiServer, tenant: Tenant, customer: str
) -> None:
    async with AsyncAllotClient(api.base_url, tenant.server_key) as allot:
        results = await asyncio.gather(*(allot.consume(customer, "seats", 1) for _ in range(6)))
    accepted = [r for r in results if r.accepted]
    assert len(accepted) == 3  # seats: a hard limit of 3
    assert sorted(r.current_usage or 0 for r in accepted) == [1.0, 2.0, 3.0]
    assert {r.error_code for r in results if not r.accepted} == {"USAGE_LIMIT_EXCEEDED"}


async def test_the_sync_client_flushes_on_close(
    api: ApiServer, tenant: Tenant, customer: str, db: Database
) -> None:
    env = tenant.environments["development"]

    def use() -> None:
        with AllotClient(api.base_url, tenant.server_key) as allot:
            for _ in range(300):
                allot.report_usage(customer, "storage", 1)
            assert allot.consume(customer, "seats", 3).accepted
            assert not allot.consume(customer, "seats", 1).accepted

    await asyncio.to_thread(use)
    assert await total(db, env, customer, "storage") == 300
    assert await total(db, env, customer, "seats") == 3
