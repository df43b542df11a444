"""Reliability under concurrency, against a real `uvicorn` process (two workers) and the real
PostgreSQL: no lost update, a hard limit never overshot, duplicate keys counted once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx

from app.db import Database
from tests.graphql.usage.helpers import event, report, send_events, setup, total, usage_of
from tests.graphql.usage.server import ApiServer
from tests.support import GraphQLClient, Tenant

T = TypeVar("T")
TIME_LIMIT = 120.0  # seconds for a whole scenario


@asynccontextmanager
async def clients(server: ApiServer, tenant: Tenant, n: int
                  ) -> AsyncIterator[list[GraphQLClient]]:
    """n independent HTTP clients (own connections) with the tenant's server key."""
    https = [httpx.AsyncClient(base_url=server.base_url, timeout=30) for _ in range(n)]
    try:
        yield [GraphQLClient(http, tenant.server_key) for http in https]
    finally:
        await asyncio.gather(*[http.aclose() for http in https])


async def bounded(*jobs: Awaitable[T]) -> list[T]:
    async with asyncio.timeout(TIME_LIMIT):
        return list(await asyncio.gather(*jobs))


async def each(gqls: list[GraphQLClient], work: Callable[[int, GraphQLClient], Awaitable[T]]
               ) -> list[T]:
    return await bounded(*[work(i, gql) for i, gql in enumerate(gqls)])


async def test_no_update_is_lost(api_server: ApiServer, tenant: Tenant, db: Database) -> None:
    """32 clients x 100 DELTA reports on one counter: every one of them is in it."""
    async with clients(api_server, tenant, 32) as gqls:
        await setup(gqls[0], "acme")

        async def client(i: int, gql: GraphQLClient) -> list[bool]:
            return [(await report(gql, "acme", "storage", 1))["accepted"] for _ in range(100)]

        accepted = await each(gqls, client)
        assert all(all(a) for a in accepted)
        assert await usage_of(gqls[0], "acme", "storage") == 3200
    assert await total(db, tenant.environments["development"], "acme", "storage") == 3200


async def test_concurrent_consume_never_passes_a_hard_limit(api_server: ApiServer,
                                                            tenant: Tenant,
                                                            db: Database) -> None:
    """200 concurrent consumes of 1 against a hard limit of 50: exactly 50 fit."""
    async with clients(api_server, tenant, 40) as gqls:
        await setup(gqls[0], "acme")  # slots: 50, hard

        async def client(i: int, gql: GraphQLClient) -> list[dict[str, Any]]:
            return list(await asyncio.gather(*[report(gql, "acme", "slots", 1, consume=True)
                                               for _ in range(5)]))

        results = [r for rs in await each(gqls, client) for r in rs]
        accepted = [r for r in results if r["accepted"]]
        assert len(results) == 200 and len(accepted) == 50
        assert sorted(r["usage"]["currentUsage"] for r in accepted) == list(range(1, 51))
        assert all(r["errors"][0]["code"] == "USAGE_LIMIT_EXCEEDED" and
                   r["usage"]["currentUsage"] == 50 for r in results if not r["accepted"])
        assert await usage_of(gqls[0], "acme", "slots") == 50
    assert await total(db, tenant.environments["development"], "acme", "slots") == 50


async def test_the_same_keys_from_many_clients_count_once(api_server: ApiServer,
                                                          tenant: Tenant,
                                                          db: Database) -> None:
    """20 clients send the same 60 keyed reports (each in its own order) at once: each key
    counts once, and every answer for a key is the first one's."""
    keys = [f"key-{i}" for i in range(60)]
    async with clients(api_server, tenant, 20) as gqls:
        await setup(gqls[0], "acme")

        async def client(i: int, gql: GraphQLClient) -> dict[str, dict[str, Any]]:
            order = random.Random(i).sample(keys, len(keys))
            return {key: await report(gql, "acme", "storage", 2, idempotencyKey=key)
                    for key in order}

        answers = await each(gqls, client)
        for key in keys:
            per_client = [a[key] for a in answers]
            assert all(p["accepted"] and p["errors"] == [] for p in per_client), per_client
            assert len({p["usage"]["currentUsage"] for p in per_client}) == 1, key
        firsts = sorted(answers[0][key]["usage"]["currentUsage"] for key in keys)
        assert firsts == [2.0 * n for n in range(1, 61)]  # each key added once, in some order
        assert await usage_of(gqls[0], "acme", "storage") == 120
    assert await total(db, tenant.environments["development"], "acme", "storage") == 120


async def test_the_same_events_from_many_clients_count_once(api_server: ApiServer,
                                                            tenant: Tenant) -> None:
    """16 clients send overlapping batches of the same 300 event keys, shuffled."""
    keys = [f"ev-{i}" for i in range(300)]
    async with clients(api_server, tenant, 16) as gqls:
        await setup(gqls[0], "acme", "bolt")

        async def client(i: int, gql: GraphQLClient) -> tuple[int, int]:
            rng = random.Random(i)
            accepted = duplicates = 0
            for _ in range(3):
                batch = rng.sample(keys, 120)
                r = await send_events(gql, *[
                    event("acme" if int(k[3:]) % 2 else "bolt", "api_call", k,
                          dimensions={"size": "xl" if int(k[3:]) % 3 else "s"}) for k in batch])
                assert r["errors"] == [], r
                accepted, duplicates = accepted + r["accepted"], duplicates + r["duplicates"]
            return accepted, duplicates

        counts = await each(gqls, client)
        distinct: set[str] = set()  # the keys sent, drawn again from the same seeds
        for i in range(16):
            rng = random.Random(i)
            for _ in range(3):
                distinct.update(rng.sample(keys, 120))
        assert sum(a for a, _ in counts) == len(distinct)
        assert sum(a + d for a, d in counts) == 16 * 3 * 120
        calls = [await usage_of(gqls[0], c, "api-calls") for c in ("acme", "bolt")]
        assert sum(calls) == len(distinct)
        big = [await usage_of(gqls[0], c, "big-calls") for c in ("acme", "bolt")]
        assert sum(big) == len([k for k in distinct if int(k[3:]) % 3])


async def test_a_burst_on_a_fresh_process_shares_one_pool(database_url: str) -> None:
    """The first requests of a new process all ask for the pool at once: one pool, no leak."""
    database = Database(database_url)
    try:
        pools = await asyncio.gather(*[database.pool() for _ in range(8)])
        assert len({id(pool) for pool in pools}) == 1
    finally:
        await database.close()
