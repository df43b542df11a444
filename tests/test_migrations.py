"""The Alembic migrations and the SQLModel models describe the same database.

A fresh database is migrated to head and compared with the models' metadata (a model change
without a migration, or a migration the models don't reflect, shows as a difference); then
it goes down to base and up again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import replace_database, to_sqlalchemy_url
from app.migrate import alembic_config, upgrade
from app.models import metadata


async def _admin(server_url: str, sql: str) -> None:
    conn = await asyncpg.connect(replace_database(server_url, "postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def fresh_url(server_url: str) -> AsyncIterator[str]:
    """An empty database of its own on the test server."""
    name = f"allot_migrations_{uuid.uuid4().hex[:10]}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield replace_database(server_url, name)
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _inspect(url: str) -> tuple[list[Any], set[str]]:
    engine = create_async_engine(to_sqlalchemy_url(url))
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
            tables = await connection.run_sync(_tables)
    finally:
        await engine.dispose()
    return differences, tables


def _downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def _model_tables() -> set[str]:
    return set(metadata.tables)


async def test_migrations_match_the_models(fresh_url: str) -> None:
    # Alembic's env runs its own event loop: give it a thread (app.migrate.upgrade does).
    await asyncio.to_thread(upgrade, fresh_url)
    differences, tables = await _inspect(fresh_url)
    assert differences == [], (
        "the models and the migrations disagree; add a migration under migrations/versions "
        "(app.migrate.autogenerate drafts one) for:\n" + "\n".join(map(str, differences))
    )
    assert tables == _model_tables() | {"alembic_version"}


async def test_downgrade_to_base_and_upgrade_again(fresh_url: str) -> None:
    await asyncio.to_thread(upgrade, fresh_url)
    await asyncio.to_thread(_downgrade, fresh_url, "base")
    differences, tables = await _inspect(fresh_url)
    assert tables <= {"alembic_version"}, f"left behind by the downgrades: {tables}"
    leftover_types = await _enum_types(fresh_url)
    assert leftover_types == [], f"types left behind by the downgrades: {leftover_types}"

    await asyncio.to_thread(upgrade, fresh_url)
    differences, tables = await _inspect(fresh_url)
    assert differences == [], "\n".join(map(str, differences))
    assert tables == _model_tables() | {"alembic_version"}


async def _enum_types(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = 'public' AND t.typtype = 'e'"
        )
    finally:
        await conn.close()
    return sorted(r["typname"] for r in rows)


def test_one_head_and_a_linear_history() -> None:
    scripts = ScriptDirectory.from_config(alembic_config("postgresql://unused/unused"))
    assert len(scripts.get_heads()) == 1, f"several heads: {scripts.get_heads()}; merge them"
    for revision in scripts.walk_revisions():
        assert revision.doc, f"migration {revision.revision} has no message"
