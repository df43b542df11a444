"""Databases of their own for tests that need one (migrations, CLI processes, servers):
created on the test server and dropped afterwards, whatever the test did to them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import asyncpg

from app.db import replace_database


async def admin(server_url: str, sql: str) -> None:
    """Run one statement on the server's `postgres` database (CREATE/DROP DATABASE)."""
    conn = await asyncpg.connect(replace_database(server_url, "postgres"), timeout=10)
    try:
        await conn.execute(sql, timeout=30)
    finally:
        await conn.close()


def _names(server_url: str, prefix: str) -> tuple[str, str, str]:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    return (
        f'CREATE DATABASE "{name}"',
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        replace_database(server_url, name),
    )


@asynccontextmanager
async def empty_database(server_url: str, prefix: str) -> AsyncIterator[str]:
    """A new, empty database (no schema at all); its URL."""
    create, drop, url = _names(server_url, prefix)
    await admin(server_url, create)
    try:
        yield url
    finally:
        await admin(server_url, drop)


@contextmanager
def empty_database_sync(server_url: str, prefix: str) -> Iterator[str]:
    """`empty_database` for code outside an event loop (session fixtures, process tests)."""
    create, drop, url = _names(server_url, prefix)
    asyncio.run(admin(server_url, create))
    try:
        yield url
    finally:
        asyncio.run(admin(server_url, drop))
