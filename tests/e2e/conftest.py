"""The end-to-end fixture: one real `allot serve --demo` process for the e2e session.

By default it runs on the embedded PostgreSQL in a temporary ALLOT_DATA_DIR, as a user's first
`allot serve --demo` would. With ALLOT_TEST_DATABASE_URL (or DATABASE_URL) set, it runs on a
fresh database created on that server instead (and dropped afterwards), like a deployment
with an external PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from app.db import replace_database, to_asyncpg_dsn
from tests.e2e.process import AllotServer, allot_env, fresh_data_dir


@dataclass
class Served:
    """A running `allot serve --demo` and what a user would have noted from its output."""

    server: AllotServer
    base_url: str
    keys: dict[str, str]  # environment -> server key, as printed on first start
    env: dict[str, str]  # the environment to run more `allot` commands against it

    @property
    def dev_key(self) -> str:
        return self.keys["development"]


def external_server_url() -> str | None:
    url = os.environ.get("ALLOT_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    return to_asyncpg_dsn(url) if url else None


async def _admin(server_url: str, sql: str) -> None:
    conn = await asyncpg.connect(replace_database(server_url, "postgres"), timeout=10)
    try:
        await conn.execute(sql, timeout=30)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    logs = tmp_path_factory.mktemp("allot-e2e")
    server_url = external_server_url()
    name = f"allot_e2e_{uuid.uuid4().hex[:10]}"
    database_url = replace_database(server_url, name) if server_url else None
    with fresh_data_dir() as data_dir:
        if server_url:
            asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
        env = allot_env(data_dir, database_url)
        server = AllotServer(["--demo"], env, logs / "serve.log")
        try:
            base_url = server.wait_ready()
            yield Served(server=server, base_url=base_url, keys=server.server_keys(), env=env)
        finally:
            server.close()
            if server_url:
                asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh, empty ALLOT_DATA_DIR (see `fresh_data_dir`)."""
    with fresh_data_dir() as path:
        yield path
