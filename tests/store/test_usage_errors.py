"""The usage store says what went wrong in its own terms (app/store/errors.py), never with
the driver's exceptions or the SQL function's "STALE" row, and writes nothing then."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from app.db import Database
from app.store import usage as store
from app.store.errors import OutOfRange, StaleContext, StoreError, WriteConflict
from app.store.usage import NO_PERIOD, NO_PERIOD_END
from tests.graphql.usage.helpers import counters, customer_pk, key_count, setup
from tests.support import GraphQLClient, Tenant

NOW = datetime(2031, 1, 10, 12, 0, tzinfo=UTC)


def test_store_errors_are_not_driver_errors() -> None:
    for error in (OutOfRange, StaleContext, WriteConflict):
        assert issubclass(error, StoreError)
        assert not issubclass(error, asyncpg.PostgresError)


def _report(
    pk: uuid.UUID, env: uuid.UUID, key: str | None, value: float = 1.0, feature: str = "storage"
) -> store.UsageReport:
    return store.UsageReport(
        counter=(pk, feature, "", NO_PERIOD, NO_PERIOD_END),
        env=env,
        key=key,
        digest="d-" + (key or ""),
        set_=False,
        value=value,
        consume=False,
        consume_limit=None,
        threshold_limit=None,
        base={"usageLimit": None, "periodStart": None, "periodEnd": None},
    )


async def test_an_overflowing_counter_is_out_of_range_and_writes_nothing(
    gql: GraphQLClient, tenant: Tenant, db: Database
) -> None:
    await setup(gql, "acme")
    env = tenant.environments["development"]
    pk = await customer_pk(db, env, "acme")
    row = (pk, "tokens", "", NO_PERIOD, NO_PERIOD_END, 1e308, None)
    pool = await db.pool()
    async with pool.acquire() as conn:
        with pytest.raises(OutOfRange):
            async with conn.transaction():
                first = await store.apply_aggregates(conn, env, "ADD", [row], NOW)
                assert [c.value for c in first] == [1e308]
                await store.apply_aggregates(conn, env, "ADD", [row], NOW)
    assert await counters(db, env, "acme", "tokens") == {}


async def test_a_changed_context_is_stale_and_records_nothing(
    gql: GraphQLClient, tenant: Tenant, db: Database
) -> None:
    await setup(gql, "acme")
    env = tenant.environments["development"]
    pk = await customer_pk(db, env, "acme")
    guard = (pk, env, "storage", "a version no row has")
    pool = await db.pool()
    async with pool.acquire() as conn:
        with pytest.raises(StaleContext):
            await store.record_usage(conn, [_report(pk, env, "k1")], [guard], (80, 100), NOW)
        assert await counters(db, env, "acme", "storage") == {}
        assert await key_count(db, env) == 0
        # Without the guard the same report is recorded: the refusal was the guard's.
        outcomes = await store.record_usage(conn, [_report(pk, env, "k1")], [], (80, 100), NOW)
    assert [o.outcome for o in outcomes] == ["APPLIED"]
    assert await counters(db, env, "acme", "storage") == {("", NO_PERIOD): 1.0}


async def _waiting_on_a_lock(db: Database, backend_pid: int) -> None:
    """Until the backend waits for a lock (the other transaction's key): the database is
    asked, as nothing in this process can tell."""
    pool = await db.pool()
    async with pool.acquire() as conn:
        for _ in range(3000):  # 30 s at most
            if await conn.fetchval(
                "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", backend_pid
            ):
                return
            await asyncio.sleep(0.01)
    raise AssertionError("the second batch never waited for the first one's key")


async def test_a_key_stored_meanwhile_is_a_write_conflict(
    gql: GraphQLClient, tenant: Tenant, db: Database
) -> None:
    await setup(gql, "acme")
    env = tenant.environments["development"]
    pk = await customer_pk(db, env, "acme")
    pool = await db.pool()
    async with pool.acquire() as first, pool.acquire() as second:
        pid = second.get_server_pid()
        async with first.transaction():
            await store.record_usage(first, [_report(pk, env, "k1")], [], (80, 100), NOW)
            # The same key in a batch on another counter: it waits for the first to commit.
            late = asyncio.create_task(
                store.record_usage(
                    second, [_report(pk, env, "k1", feature="seats")], [], (80, 100), NOW
                )
            )
            await _waiting_on_a_lock(db, pid)
        with pytest.raises(WriteConflict):
            await late
    assert await counters(db, env, "acme", "storage") == {("", NO_PERIOD): 1.0}
    assert await counters(db, env, "acme", "seats") == {}
