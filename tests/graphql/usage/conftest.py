"""Usage fixtures: an app on a FrozenClock (periods without any job), with a fresh tenant;
a real server process for the reliability tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette

from app.clock import FrozenClock
from app.db import Database
from app.main import create_app
from app.settings import Settings
from tests.graphql.usage.server import ApiServer
from tests.support import GraphQLClient, client_of, make_tenant, running

# Far from the real clock and from the engine tests' START.
JAN_10 = datetime(2031, 1, 10, 12, 0, tzinfo=UTC)


@dataclass
class Frozen:
    gql: GraphQLClient
    env: uuid.UUID
    clock: FrozenClock


@pytest.fixture(scope="session")
def usage_clock() -> FrozenClock:
    return FrozenClock(JAN_10)


@pytest.fixture(scope="session")
async def usage_app(database_url: str, usage_clock: FrozenClock) -> AsyncIterator[Starlette]:
    async with running(create_app(database_url, Settings(), clock=usage_clock)) as application:
        yield application


@pytest.fixture(scope="session")
async def usage_http(usage_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(usage_app, "http://usage.test") as client:
        yield client


@pytest.fixture
async def frozen(usage_http: httpx.AsyncClient, db: Database,
                 usage_clock: FrozenClock) -> Frozen:
    """A fresh tenant on the frozen app; the clock starts at JAN_10 for every test."""
    usage_clock.set(JAN_10)
    tenant = await make_tenant(db)
    return Frozen(GraphQLClient(usage_http, tenant.server_key),
                  tenant.environments["development"], usage_clock)


@pytest.fixture(scope="session")
def api_server(database_url: str, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[ApiServer]:
    """A real `uvicorn` process (two workers) on the test database, for the whole session."""
    server = ApiServer(database_url, tmp_path_factory.mktemp("usage-api") / "server.log",
                       workers=2)
    try:
        server.start()
        yield server
    finally:
        server.close()
