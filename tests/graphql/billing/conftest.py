"""Billing fixtures: an app on a FrozenClock of its own, the background job, a tenant with
the billing catalog and billing settings applied, and GraphQL helpers for invoices."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.clock import FrozenClock
from app.db import Database
from app.main import create_app
from app.settings import Settings
from app.workers.jobs import run_once
from tests.graphql.billing.catalog import BILLING_CATALOG, SETTINGS, UPDATE_SETTINGS
from tests.graphql.entitlements.catalog import apply_catalog
from tests.support import GraphQLClient, Tenant, client_of, make_tenant, running

# A month end, far from the other suites' clocks: renewals fall on Feb 28, Mar 31, Apr 30.
START = datetime(2025, 1, 31, 9, 0, tzinfo=UTC)

Job = Callable[[], Awaitable[int]]


@pytest.fixture(scope="session")
def billing_clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture(scope="session")
async def billing_app(database_url: str, billing_clock: FrozenClock) -> AsyncIterator[Starlette]:
    settings = Settings(public_url="https://billing.allot.test", invoice_link_days=30)
    async with running(create_app(database_url, settings, clock=billing_clock)) as application:
        yield application


@pytest.fixture(scope="session")
async def billing_http(billing_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(billing_app, "http://b") as client:
        yield client


@pytest.fixture
def clock(billing_clock: FrozenClock) -> FrozenClock:
    """The app's clock, back at START for every test."""
    billing_clock.set(START)
    return billing_clock


@pytest.fixture
async def billing_tenant(db: Database, clock: FrozenClock) -> Tenant:
    return await make_tenant(db, "billing")


@pytest.fixture
async def bgql(billing_http: httpx.AsyncClient, billing_tenant: Tenant) -> GraphQLClient:
    """A server-key client of a fresh tenant with the billing catalog and settings."""
    gql = GraphQLClient(billing_http, billing_tenant.server_key)
    await apply_catalog(gql, BILLING_CATALOG)
    payload = await gql.mutate(UPDATE_SETTINGS, {"input": SETTINGS})
    assert payload["errors"] == [], payload["errors"]
    return gql


@pytest.fixture
def run_job(db: Database, clock: FrozenClock) -> Job:
    """One pass of the background job (`app.workers.jobs.run_once`) at the clock's now."""

    async def run() -> int:
        return await run_once(db, clock)

    return run


def errors_of(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["errors"]]
