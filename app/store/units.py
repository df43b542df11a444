"""The unit of work, as the domain uses it: objects added to it, savepoints, a raw
connection's transaction. The domain opens handles through `Database` and hands them here and
to the other store modules; it never calls a method of a session or connection itself
(tests/test_domain_handles.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import RawConnection


async def add(session: AsyncSession, *rows: Any) -> None:
    """Insert new rows (or write changed ones) and send them now, so later reads see them
    (and their generated keys are set)."""
    session.add_all(rows)
    await session.flush()


def stage(session: AsyncSession, *rows: Any) -> None:
    """Put new or changed rows in the unit of work without sending them yet: the next flush
    (a read, `add`, or the commit) writes them together."""
    session.add_all(rows)


async def flush(session: AsyncSession) -> None:
    """Send what is staged now (later reads in the unit of work see it)."""
    await session.flush()


@asynccontextmanager
async def savepoint(session: AsyncSession) -> AsyncIterator[None]:
    """A savepoint: an error inside rolls back what was done inside it only."""
    async with session.begin_nested():
        yield


@asynccontextmanager
async def rolled_back(session: AsyncSession) -> AsyncIterator[None]:
    """Work done inside is always undone (a dry run), the rest of the unit of work kept."""
    point = await session.begin_nested()
    try:
        yield
    finally:
        await point.rollback()


@asynccontextmanager
async def atomically(conn: RawConnection) -> AsyncIterator[None]:
    """A transaction on a raw connection: committed when the block ends, rolled back on any
    error."""
    async with conn.transaction():
        yield
