"""Helpers shared by the tests: tenants with keys, and a GraphQL client over ASGI/HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette

from app.auth import KeyKind
from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.store import tenancy as store


@asynccontextmanager
async def running(application: Starlette) -> AsyncIterator[Starlette]:
    """The app with its lifespan running (database, workers, listeners) for the block."""
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def client_of(
    application: Starlette, base_url: str = "http://allot.test"
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling the app in-process (over ASGI)."""
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


# The test receivers listen on loopback, which the webhook target policy refuses by default.
TEST_WEBHOOK_CIDRS = ("127.0.0.0/8", "::1/128")


@dataclass
class Tenant:
    """A fresh account with `development` and `production` environments and keys for both.
    Every test gets its own: environments isolate everything, so tests never collide."""

    account_pk: uuid.UUID
    environments: dict[str, uuid.UUID]
    server_keys: dict[str, str]
    client_keys: dict[str, str]

    @property
    def server_key(self) -> str:
        return self.server_keys["development"]

    @property
    def client_key(self) -> str:
        return self.client_keys["development"]


async def make_tenant(db: Database, name: str = "test") -> Tenant:
    async with audit.transaction(db, AuditActor.cli("tests: make_tenant")) as session:
        account = await store.create_account(session, name)
        environments, server_keys, client_keys = {}, {}, {}
        for slug in ("development", "production"):
            env = await store.create_environment(session, account.pk, slug, slug.title())
            environments[slug] = env.pk
            server_keys[slug] = (await store.create_api_key(session, env.pk, KeyKind.SERVER))[1]
            client_keys[slug] = (await store.create_api_key(session, env.pk, KeyKind.CLIENT))[1]
    return Tenant(account.pk, environments, server_keys, client_keys)


class GraphQLClient:
    """Posts GraphQL to the app (in-process ASGI or a real server) with a key."""

    def __init__(self, http: httpx.AsyncClient, key: str | None) -> None:
        self.http = http
        self.key = key

    def with_key(self, key: str | None) -> GraphQLClient:
        return GraphQLClient(self.http, key)

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        """The `data` of a successful response; fails the test on any top-level error."""
        response = await self.post(query, variables)
        body = response.json()
        assert response.status_code == 200, body
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def mutate(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        """The single payload of a mutation; fails on top-level errors, not on payload errors."""
        data = await self.execute(query, variables)
        (payload,) = data.values()
        return payload
