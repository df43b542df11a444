"""Helpers shared by the tests: tenants with keys, and a GraphQL client over ASGI/HTTP."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette

from app.auth import KeyKind, UserRole
from app.clock import Clock
from app.db import Database
from app.domain import audit, users
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


class Ticks:
    """A monotonic clock (the app's `ticks`, for rate limits) that moves only when told to."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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


# --- console users and sessions ------------------------------------------------------------

TEST_PASSWORD = "correct horse battery staple"


async def make_user(
    db: Database,
    account_pk: uuid.UUID,
    role: UserRole = UserRole.ADMIN,
    email: str | None = None,
    password: str = TEST_PASSWORD,
    name: str = "Test User",
) -> str:
    """A user of the account (through the domain, audited as the CLI); returns the email."""
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    async with audit.transaction(db, AuditActor.cli("tests: make_user")) as session:
        user = await users.create_user(
            session, account_pk, email, name, role, password, Clock().now()
        )
    return user.email


_CSRF_FIELD = re.compile(r'name=csrf value="([^"]+)"')


async def form_csrf(http: httpx.AsyncClient, path: str = "/console/login") -> tuple[str, str]:
    """(the form's CSRF token, the Cookie header carrying it) of a login or invitation page."""
    page = await http.get(path, headers={"Cookie": ""})
    match = _CSRF_FIELD.search(page.text)
    assert match, page.text
    token = html.unescape(match.group(1))
    http.cookies.clear()
    return token, f"allot_form_csrf={token}"


async def log_in(
    http: httpx.AsyncClient, email: str, password: str = TEST_PASSWORD
) -> SessionClient:
    """Log in through POST /console/login as a browser would (the form's CSRF cookie, then
    the session cookie), and read the session's CSRF token from GET /console/session: a
    GraphQL client acting as that user. Leaves the client's cookie jar empty."""
    csrf, cookie = await form_csrf(http)
    response = await http.post(
        "/console/login",
        data={"email": email, "password": password, "csrf": csrf},
        headers={"Cookie": cookie},
    )
    assert response.status_code == 303, response.text
    token = response.cookies["allot_session"]
    http.cookies.clear()
    info = await http.get("/console/session", headers={"Cookie": f"allot_session={token}"})
    assert info.status_code == 200, info.text
    return SessionClient(http, token, info.json()["csrfToken"])


class SessionClient(GraphQLClient):
    """Posts GraphQL as a console user: the session cookie, X-CSRF-Token and (optionally)
    X-Allot-Environment, no API key."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token: str,
        csrf: str | None,
        environment: str | None = None,
    ) -> None:
        super().__init__(http, None)
        self.token = token
        self.csrf = csrf
        self.environment = environment

    def in_environment(self, environment: str | None) -> SessionClient:
        return SessionClient(self.http, self.token, self.csrf, environment)

    def with_csrf(self, csrf: str | None) -> SessionClient:
        return SessionClient(self.http, self.token, csrf, self.environment)

    def headers(self) -> dict[str, str]:
        headers = {"Cookie": f"allot_session={self.token}"}
        if self.csrf is not None:
            headers["X-CSRF-Token"] = self.csrf
        if self.environment is not None:
            headers["X-Allot-Environment"] = self.environment
        return headers

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=self.headers()
        )
