"""Configuration errors, as a user meets them: real `allot` processes, one line on stderr
naming the variable, exit code 1, and nothing opened or written."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from app.settings import ConfigError, Settings, postgres_url
from tests.databases import empty_database_sync
from tests.e2e.process import allot_env, postgres_processes, run_allot


def refused(args: list[str], env: dict[str, str], variable: str) -> str:
    result = run_allot(args, env)
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("allot: error: ") and variable in lines[0], lines
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    return lines[0]


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "mysql://allot:secret@127.0.0.1:3306/allot",
        "sqlite:///allot.db",
        "postgresql://127.0.0.1:5432",  # no database: libpq would pick one
    ],
)
def test_a_database_url_that_is_not_postgresql_is_refused(url: str, data_dir: Path) -> None:
    env = allot_env(data_dir, url)
    line = refused(["migrate"], env, "DATABASE_URL")
    assert "is migrated" not in line
    # Nothing was started or created in its place.
    assert postgres_processes(data_dir) == []
    assert not data_dir.exists()



async def _tables_in(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {row["tablename"] for row in rows}


def test_a_malformed_url_writes_nowhere(server_url: str, data_dir: Path) -> None:
    """libpq's defaults (PG* variables, the local socket, a database named like the user) are
    never used for a URL that does not parse. Here they point at an empty scratch database:
    it must stay empty (on main it got every table)."""
    with empty_database_sync(server_url, "allot_scratch") as scratch_url:
        scratch = make_url(scratch_url)
        name = scratch.database or ""
        env = allot_env(data_dir, "not a url")
        env |= {
            "PGHOST": scratch.host or str(scratch.query.get("host") or "127.0.0.1"),
            "PGPORT": str(scratch.port or 5432),
            "PGUSER": scratch.username or "postgres",
            "PGDATABASE": name,
        }
        if scratch.password:
            env["PGPASSWORD"] = scratch.password
        refused(["migrate"], env, "DATABASE_URL")
        assert asyncio.run(_tables_in(scratch_url)) == set()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ALLOT_POOL_SIZE", "four"),
        ("ALLOT_JOBS_INTERVAL", "soon"),
        ("ALLOT_WEBHOOK_TIMEOUT", "nan"),
        ("ALLOT_PUBLIC_URL", "billing.example.com"),
        ("ALLOT_ALLOWED_HOSTS", "good.example, bad/host"),
        ("ALLOT_LOG_LEVEL", "LOUD"),
        ("ALLOT_LOG_FORMAT", "xml"),
    ],
)
def test_a_bad_setting_names_its_variable(variable: str, value: str, data_dir: Path) -> None:
    env = allot_env(data_dir)
    env[variable] = value
    refused(["keys", "list", "--environment", "development"], env, variable)
    assert postgres_processes(data_dir) == []


def test_postgresql_urls_are_normalised() -> None:
    assert (
        postgres_url("postgres://u:p%40ss@db:5432/allot") == "postgresql://u:p%40ss@db:5432/allot"
    )
    assert postgres_url("postgresql+asyncpg://u@db/allot?sslmode=require") == (
        "postgresql://u@db/allot?sslmode=require"
    )
    assert postgres_url("postgresql:///allot?host=/var/run/postgresql").startswith(
        "postgresql:///allot?host="
    )
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        postgres_url("mysql://u@db/allot")


def test_settings_read_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgres://u@db/{uuid.uuid4().hex}")
    monkeypatch.setenv("ALLOT_ALLOWED_HOSTS", "Billing.Example.com, .example.org")
    settings = Settings.from_env()
    assert settings.database_url.startswith("postgresql://u@db/")
    assert settings.allowed_hosts == ("billing.example.com", ".example.org")
