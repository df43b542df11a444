"""Fixtures of the command-line tests: real `allot` processes on databases of their own."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import asyncpg
import pytest

from app.db import replace_database
from tests.e2e.process import allot_env, fresh_data_dir


async def _admin(server_url: str, sql: str) -> None:
    conn = await asyncpg.connect(replace_database(server_url, "postgres"), timeout=10)
    try:
        await conn.execute(sql, timeout=30)
    finally:
        await conn.close()


@contextmanager
def empty_database(server_url: str) -> Iterator[str]:
    """A new, empty database (no schema at all) on the test server, dropped afterwards."""
    name = f"allot_cli_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield replace_database(server_url, name)
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with fresh_data_dir() as path:
        yield path


@pytest.fixture
def fresh_env(server_url: str, data_dir: Path) -> Iterator[Callable[[], dict[str, str]]]:
    """Makes environments for child `allot` processes, each on an empty database of its own
    (dropped after the test)."""
    with ExitStack() as stack:

        def make() -> dict[str, str]:
            env = allot_env(data_dir, stack.enter_context(empty_database(server_url)))
            # The key of this test session (tests/conftest.py): the tests read what the
            # child wrote with it, in-process.
            env["ALLOT_SECRET_KEY"] = os.environ["ALLOT_SECRET_KEY"]
            return env

        yield make
