"""SDK tests: a real API server process (uvicorn on the test database, killable and
restartable on its port) and a tenant with the usage catalog and a customer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.graphql.usage.helpers import setup
from tests.graphql.usage.server import ApiServer
from tests.support import GraphQLClient, Tenant


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[ApiServer]:
    server = ApiServer(database_url, tmp_path / "server.log", workers=1)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
async def api_gql(api: ApiServer, tenant: Tenant) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as http:
        yield GraphQLClient(http, tenant.server_key)


@pytest.fixture
async def customer(api_gql: GraphQLClient) -> str:
    """A customer on the usage catalog's default plan (seats: hard 3, storage: soft 100...)."""
    customer_id = f"c-{uuid.uuid4().hex[:8]}"
    await setup(api_gql, customer_id)
    return customer_id
