"""The Alembic migrations and the SQLModel models describe the same database.

A fresh database is migrated to head and compared with the models' metadata (a model change
without a migration, or a migration the models don't reflect, shows as a difference); then
it goes down to base and up again.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
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

from app.db import to_sqlalchemy_url
from app.models import metadata
from app.store.migrate import alembic_config, upgrade


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
    # Alembic's env runs its own event loop: give it a thread (app.store.migrate.upgrade does).
    await asyncio.to_thread(upgrade, fresh_url)
    differences, tables = await _inspect(fresh_url)
    assert differences == [], (
        "the models and the migrations disagree; add a migration under migrations/versions "
        "(app.store.migrate.autogenerate drafts one) for:\n" + "\n".join(map(str, differences))
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


UNCHECKED_TIMESTAMPS = (
    "SELECT c.table_name, c.column_name FROM information_schema.columns c "
    "JOIN information_schema.tables t USING (table_schema, table_name) "
    "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' "
    "AND c.data_type LIKE 'timestamp%' AND NOT EXISTS (SELECT 1 FROM "
    "information_schema.check_constraints k WHERE k.constraint_schema = c.table_schema "
    "AND k.constraint_name = left('ck_' || c.table_name || '_' || c.column_name "
    "|| '_finite', 63))"
)


async def timestamp_columns_without_finite_check(conn: asyncpg.Connection) -> list[Any]:
    return [tuple(row) for row in await conn.fetch(UNCHECKED_TIMESTAMPS)]


async def test_every_timestamp_column_at_head_refuses_infinity(fresh_url: str) -> None:
    """Not only 0010's columns: a later migration adding a timestamp column adds the check."""
    await asyncio.to_thread(upgrade, fresh_url)
    conn = await asyncpg.connect(fresh_url)
    try:
        unchecked = await timestamp_columns_without_finite_check(conn)
    finally:
        await conn.close()
    assert unchecked == [], f"timestamp columns without the finite check: {unchecked}"


async def test_finite_timestamps_repairs_infinity_then_refuses_it(fresh_url: str) -> None:
    """0010: rows holding ±infinity (stored before DateTime inputs were bounded) are repaired
    by its rule, then every timestamp column refuses ±infinity."""
    await asyncio.to_thread(upgrade, fresh_url, "0009")
    conn = await asyncpg.connect(fresh_url)
    try:
        account = await conn.fetchval(
            "INSERT INTO accounts (pk, name, created_at) VALUES (gen_random_uuid(), 'a', "
            "'2024-05-01T00:00:00Z') RETURNING pk"
        )
        env = await conn.fetchval(
            "INSERT INTO environments (pk, account_pk, slug, name, created_at) VALUES "
            "(gen_random_uuid(), $1, 'dev', 'Dev', '-infinity') RETURNING pk",
            account,
        )
        keys = [
            ("'2024-05-02T00:00:00Z'", "'infinity'"),  # nullable infinity: no end (NULL)
            ("'2024-05-03T00:00:00Z'", "'-infinity'"),  # -infinity: the row's created_at
            ("'infinity'", "NULL"),  # infinity, NOT NULL: the upper bound
        ]
        for i, (created, revoked) in enumerate(keys):
            await conn.execute(
                "INSERT INTO api_keys (pk, environment_pk, kind, name, key_hash, prefix, "
                f"created_at, revoked_at) VALUES (gen_random_uuid(), $1, 'server', 'k{i}', "
                f"'h{i}', 'p', {created}, {revoked})",
                env,
            )
    finally:
        await conn.close()

    await asyncio.to_thread(upgrade, fresh_url, "0010")
    conn = await asyncpg.connect(fresh_url)
    try:
        assert await conn.fetchval("SELECT created_at FROM environments") == datetime(
            1970, 1, 1, tzinfo=UTC
        )
        rows = await conn.fetch("SELECT created_at, revoked_at FROM api_keys ORDER BY name")
        assert [(r["created_at"], r["revoked_at"]) for r in rows] == [
            (datetime(2024, 5, 2, tzinfo=UTC), None),
            (datetime(2024, 5, 3, tzinfo=UTC), datetime(2024, 5, 3, tzinfo=UTC)),
            (datetime(2200, 1, 1, tzinfo=UTC), None),
        ]
        unchecked = await timestamp_columns_without_finite_check(conn)
        assert unchecked == [], f"timestamp columns without the finite check: {unchecked}"
        for value in ("infinity", "-infinity"):
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute(f"UPDATE api_keys SET revoked_at = '{value}'")
    finally:
        await conn.close()
