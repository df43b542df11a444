"""Crash safety of usage metering: a real server is SIGKILLed (twice) under a load of keyed
reports and event batches, restarted on the same port, and the clients retry every report
they got no answer for, with the same key, until it is acknowledged.

Then every key is in the counter exactly once: nothing acknowledged was lost, nothing retried
was counted twice, and each acknowledgement (first answer or replay) carries its own value.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.db import Database
from tests.graphql.usage.helpers import EVENTS, REPORT, key_count, setup, total
from tests.graphql.usage.server import ApiServer
from tests.support import GraphQLClient, Tenant

pytestmark = pytest.mark.e2e

REPORT_CLIENTS = 8
KEYS_PER_CLIENT = 150
EVENT_CLIENTS = 2
BATCHES_PER_CLIENT = 30
BATCH = 10
KILL_AFTER = (0.25, 0.6)  # fractions of the reports acknowledged when the server is killed
TIME_LIMIT = 240.0


class Load:
    def __init__(self, server: ApiServer, key: str) -> None:
        self.server = server
        self.key = key
        self.acked = 0
        self.failures = 0
        self.answers: dict[str, float] = {}
        self.events_acked = 0
        self.progress = asyncio.Event()

    async def send(self, http: httpx.AsyncClient, query: str, variables: dict[str, Any]
                   ) -> dict[str, Any]:
        """POST until the server answers 200; returns the mutation's payload."""
        gql = GraphQLClient(http, self.key)
        while True:
            try:
                response = await gql.post(query, variables)
                if response.status_code == 200:
                    (payload,) = response.json()["data"].values()
                    return payload  # type: ignore[no-any-return]
                assert response.status_code >= 500, response.text
            except httpx.TransportError:
                pass
            self.failures += 1
            await asyncio.sleep(0.05)

    async def reporter(self, client: int) -> None:
        async with httpx.AsyncClient(base_url=self.server.base_url, timeout=5) as http:
            for n in range(KEYS_PER_CLIENT):
                key = f"r{client}-{n}"
                item = {"customerId": "acme", "featureId": "storage", "value": 1,
                        "idempotencyKey": key}
                payload = await self.send(http, REPORT, {"i": item})
                assert payload["accepted"] and payload["errors"] == [], payload
                self.answers[key] = payload["usage"]["currentUsage"]
                self.acked += 1
                self.progress.set()

    async def eventer(self, client: int) -> None:
        async with httpx.AsyncClient(base_url=self.server.base_url, timeout=5) as http:
            for b in range(BATCHES_PER_CLIENT):
                events = [{"customerId": "acme", "eventName": "api_call",
                           "idempotencyKey": f"e{client}-{b}-{i}"} for i in range(BATCH)]
                payload = await self.send(http, EVENTS, {"i": {"events": events}})
                assert payload["errors"] == [], payload
                assert payload["accepted"] + payload["duplicates"] == BATCH
                self.events_acked += BATCH

    async def killer(self) -> int:
        kills = 0
        for fraction in KILL_AFTER:
            while self.acked < fraction * REPORT_CLIENTS * KEYS_PER_CLIENT:
                self.progress.clear()
                await self.progress.wait()
            await asyncio.to_thread(self.server.kill)
            kills += 1
            await asyncio.sleep(0.3)  # clients meet a closed port meanwhile
            await asyncio.to_thread(self.server.start)
        return kills


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Any:
    api = ApiServer(database_url, tmp_path / "server.log", workers=1)
    try:
        api.start()
        yield api
    finally:
        api.close()


async def test_killed_server_loses_and_doubles_nothing(server: ApiServer, tenant: Tenant,
                                                       db: Database) -> None:
    env = tenant.environments["development"]
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        await setup(GraphQLClient(http, tenant.server_key), "acme")
    load = Load(server, tenant.server_key)
    workers = [asyncio.create_task(load.reporter(c)) for c in range(REPORT_CLIENTS)]
    workers += [asyncio.create_task(load.eventer(c)) for c in range(EVENT_CLIENTS)]
    killer = asyncio.create_task(load.killer())
    try:
        async with asyncio.timeout(TIME_LIMIT):
            await asyncio.gather(*workers)
            assert await killer == len(KILL_AFTER)
    finally:
        for task in [*workers, killer]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    assert server.starts == 1 + len(KILL_AFTER)
    assert load.failures > 0, "the kills interrupted nothing: the test proved nothing"
    keys = REPORT_CLIENTS * KEYS_PER_CLIENT
    assert load.acked == keys and len(load.answers) == keys
    # Each key once: the counter is the number of keys, and the acknowledgements (first
    # answers and replays alike) are exactly the values 1..N, each once.
    assert await total(db, env, "acme", "storage") == keys
    assert sorted(load.answers.values()) == [float(n) for n in range(1, keys + 1)]
    assert await key_count(db, env) == keys
    events = EVENT_CLIENTS * BATCHES_PER_CLIENT * BATCH
    assert load.events_acked == events
    assert await total(db, env, "acme", "api-calls") == events
    assert await key_count(db, env, "usage_events") == events
