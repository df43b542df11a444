"""The worker in the server: a hanging receiver never blocks the API; several workers at once
send each delivery once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette

from app.clock import FrozenClock
from app.db import Database
from app.domain.outbound.outbox import emit
from app.main import create_app
from app.settings import Settings
from app.workers.webhooks import deliver_once
from tests.graphql.outbound.conftest import LOOPBACK_ALLOWED, create_endpoint, deliveries
from tests.graphql.outbound.receiver import HANG, Receiver
from tests.support import TEST_WEBHOOK_CIDRS, GraphQLClient, Tenant


@pytest.fixture
async def working_app(database_url: str) -> AsyncIterator[Starlette]:
    """An app whose lifespan runs the webhook worker (real clock), as `allot serve` does."""
    settings = Settings(
        webhook_interval=0.05, webhook_timeout=1.5, webhook_allowed_cidrs=TEST_WEBHOOK_CIDRS
    )
    application = create_app(database_url, settings)
    async with application.router.lifespan_context(application):
        yield application


async def _until(condition_met: Callable[[], Awaitable[bool]], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition_met():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_a_hanging_receiver_never_blocks_the_api(
    working_app: Starlette, tenant: Tenant, db: Database, receiver: Receiver
) -> None:
    transport = httpx.ASGITransport(app=working_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://allot.test") as http:
        gql = GraphQLClient(http, tenant.server_key)
        endpoint_id, _ = await create_endpoint(gql, receiver.url)
        receiver.script(HANG)
        async with db.transaction() as session:
            await emit(
                session,
                tenant.environments["development"],
                "invoice.overdue",
                {"invoiceId": "i1"},
                datetime.now(UTC),
            )
        await asyncio.to_thread(receiver.got_request.wait, 5)
        assert receiver.got_request.is_set()  # the worker is now waiting on the receiver

        started = time.monotonic()
        await create_endpoint(gql, "https://other.example.com/")
        assert await deliveries(gql, e=endpoint_id)
        assert time.monotonic() - started < 1.0  # answered while the receiver hangs

        async def recorded() -> bool:
            (delivery,) = await deliveries(gql, e=endpoint_id)
            return bool(delivery["attempts"])

        await _until(recorded, 5)
        (delivery,) = await deliveries(gql, e=endpoint_id)
        (attempt,) = delivery["attempts"]
        assert delivery["status"] == "PENDING"
        assert attempt["error"] == "timed out after 1.5 s" and attempt["statusCode"] is None


async def test_concurrent_workers_send_each_delivery_once(
    gql: GraphQLClient, tenant: Tenant, db: Database, receiver: Receiver, clock: FrozenClock
) -> None:
    await create_endpoint(gql, receiver.url)
    env = tenant.environments["development"]
    async with db.transaction() as session:
        for n in range(30):
            await emit(session, env, "entitlements.changed", {"n": n}, clock.now())
    clients = [httpx.AsyncClient() for _ in range(3)]
    try:
        counts = await asyncio.gather(
            *(
                deliver_once(
                    db, clock, c, environment_pk=env, batch_size=4, policy=LOOPBACK_ALLOWED
                )
                for c in clients
            )
        )
    finally:
        for c in clients:
            await c.aclose()
    assert sum(counts) == 30
    received = sorted(int(r.body.split(b'"n":')[1].split(b"}")[0]) for r in receiver.requests)
    assert received == list(range(30))
    statuses = {d["status"] for d in await deliveries(gql, f=50)}
    assert statuses == {"SUCCEEDED"}
