"""The hot path's read connections (app/db.py `ReadConnections`): never more open than their
size, a connection whose use failed is closed and replaced, a cancelled wait leaks nothing,
and a connection the server closed while idle is not handed out."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from app.db import ReadConnections, to_asyncpg_dsn


async def _backends(url: str, application: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", application))
    finally:
        await conn.close()


def _reads(url: str, name: str, size: int) -> ReadConnections:
    separator = "&" if "?" in url else "?"
    return ReadConnections(f"{to_asyncpg_dsn(url)}{separator}application_name={name}", size)


async def test_concurrent_reads_share_at_most_size_connections(database_url: str) -> None:
    reads = _reads(database_url, "reads-size", 3)
    most = 0

    async def one(i: int) -> int:
        nonlocal most
        async with reads.lend() as conn:
            most = max(most, reads._open)
            return int(await conn.fetchval("SELECT $1::int FROM pg_sleep(0.01)", i))

    try:
        assert await asyncio.gather(*(one(i) for i in range(40))) == list(range(40))
        assert most <= 3
        assert await _backends(database_url, "reads-size") == 3
    finally:
        await reads.close()
    assert await _backends(database_url, "reads-size") == 0


async def test_a_failed_read_closes_its_connection_and_the_next_reads_work(
    database_url: str,
) -> None:
    reads = _reads(database_url, "reads-fail", 1)
    try:
        async with reads.lend() as conn:
            first = conn.get_server_pid()
        with pytest.raises(asyncpg.PostgresError):
            async with reads.lend() as conn:
                await conn.fetchval("SELECT 1/0")
        async with reads.lend() as conn:
            assert await conn.fetchval("SELECT 2") == 2
            assert conn.get_server_pid() != first  # a new connection
        assert reads._open == 1
    finally:
        await reads.close()


async def test_a_cancelled_wait_leaks_no_connection(database_url: str) -> None:
    reads = _reads(database_url, "reads-cancel", 1)
    try:
        async with reads.lend():
            waiting = asyncio.create_task(reads.acquire())
            await asyncio.sleep(0.01)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
        async with reads.lend() as conn:  # the one connection came back
            assert await conn.fetchval("SELECT 3") == 3
        assert reads._open == 1 and not reads._waiting
    finally:
        await reads.close()


async def test_a_connection_closed_by_the_server_is_not_handed_out(database_url: str) -> None:
    reads = _reads(database_url, "reads-killed", 1)
    try:
        async with reads.lend() as conn:
            pid = conn.get_server_pid()
        admin = await asyncpg.connect(to_asyncpg_dsn(database_url))
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
        await admin.close()
        for _ in range(50):  # until the client has seen the server close it
            if reads._idle and reads._idle[0].is_closed():
                break
            await asyncio.sleep(0.02)
        async with reads.lend() as conn:
            assert await conn.fetchval("SELECT 4") == 4
    finally:
        await reads.close()
