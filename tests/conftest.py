"""Test fixtures: one real PostgreSQL, migrated once per session; a fresh tenant per test.

Without DATABASE_URL (or ALLOT_TEST_DATABASE_URL) the tests start the embedded PostgreSQL in
.allot-test/. Each session creates its own database, so runs never see each other's data.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from app import secrets_at_rest
from app.db import Database, EmbeddedPostgres, to_asyncpg_dsn
from app.main import create_app
from app.settings import Settings
from app.store.migrate import upgrade
from tests.databases import empty_database, empty_database_sync
from tests.support import (
    TEST_WEBHOOK_CIDRS,
    GraphQLClient,
    Tenant,
    client_of,
    make_tenant,
    running,
)

ROOT = Path(__file__).resolve().parent.parent

# One secret key for the session: the migrations encrypt with it, every app and in-process
# command uses it, and child processes inherit it (tests/graphql/usage/server.py passes it on).
TEST_SECRET_KEY = os.environ.setdefault("ALLOT_SECRET_KEY", secrets_at_rest.generate_key())
secrets_at_rest.install(secrets_at_rest.Keyring.parse(TEST_SECRET_KEY, "ALLOT_SECRET_KEY"))


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A URL of the PostgreSQL server the tests use (any database on it)."""
    url = os.environ.get("ALLOT_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        yield to_asyncpg_dsn(url)
        return
    embedded = EmbeddedPostgres(ROOT / ".allot-test")
    yield embedded.dsn("postgres")



@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A fresh database for this session, migrated to head through Alembic."""
    with empty_database_sync(server_url, "allot_test") as url:
        upgrade(url)
        yield url


@pytest.fixture
async def fresh_url(server_url: str) -> AsyncIterator[str]:
    """An empty database of this test's own (migration tests), dropped afterwards."""
    async with empty_database(server_url, "allot_fresh") as url:
        yield url


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.close()


@pytest.fixture(scope="session")
async def app(database_url: str) -> AsyncIterator[Starlette]:
    # Webhook tests deliver to receivers on loopback: allowed here as an operator would.
    application = create_app(database_url, Settings(webhook_allowed_cidrs=TEST_WEBHOOK_CIDRS))
    async with running(application):
        yield application


@pytest.fixture(scope="session")
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app) as client:
        yield client


@pytest.fixture
async def tenant(db: Database) -> Tenant:
    return await make_tenant(db)


@pytest.fixture
def gql(http: httpx.AsyncClient, tenant: Tenant) -> GraphQLClient:
    """A client with the tenant's development server key."""
    return GraphQLClient(http, tenant.server_key)
