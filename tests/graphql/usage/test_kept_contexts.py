"""Reports reuse the customer's context (entitlement, feature kind) kept from earlier batches
(app/domain/usage/targets.py); any change to the rows it came from must show in the very next
report, also when another process made the change (here: a second app with its own batcher and
cache, on the same database)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from app.main import create_app
from app.settings import Settings
from tests.graphql.entitlements.catalog import provision
from tests.graphql.usage.helpers import codes, report, reported, setup
from tests.support import GraphQLClient, Tenant


@pytest.fixture
async def elsewhere(database_url: str, tenant: Tenant) -> AsyncIterator[GraphQLClient]:
    """The same tenant through another app instance: another process, as far as the kept
    contexts go."""
    other: Starlette = create_app(database_url, Settings())
    async with other.router.lifespan_context(other):
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://other.test") as http:
            yield GraphQLClient(http, tenant.server_keys["development"])


async def test_an_upgrade_elsewhere_raises_the_limit_at_once(gql: GraphQLClient,
                                                             elsewhere: GraphQLClient) -> None:
    await setup(gql, "acme")  # basic: requests 100 a month, hard
    assert await reported(gql, "acme", "requests", 100, consume=True) == 100
    refused = await report(gql, "acme", "requests", 1, consume=True)
    assert codes(refused) == ["USAGE_LIMIT_EXCEEDED"]
    changed = await provision(elsewhere, customerId="acme", planId="plus",
                              changeTiming="IMMEDIATE")  # 500 a month
    assert changed["errors"] == []
    payload = await report(gql, "acme", "requests", 1, consume=True)
    assert payload["accepted"] and payload["usage"]["usageLimit"] == 500


async def test_a_downgrade_elsewhere_lowers_the_limit_at_once(gql: GraphQLClient,
                                                              elsewhere: GraphQLClient) -> None:
    await setup(gql, "acme")
    await provision(gql, customerId="acme", planId="plus", changeTiming="IMMEDIATE")
    assert await reported(gql, "acme", "requests", 100, consume=True) == 100
    changed = await provision(elsewhere, customerId="acme", planId="basic",
                              changeTiming="IMMEDIATE")
    assert changed["errors"] == []
    assert codes(await report(gql, "acme", "requests", 1, consume=True)) == [
        "USAGE_LIMIT_EXCEEDED"]


async def test_archiving_elsewhere_stops_reports_at_once(gql: GraphQLClient,
                                                         elsewhere: GraphQLClient) -> None:
    await setup(gql, "acme")
    assert await reported(gql, "acme", "storage", 1) == 1
    await elsewhere.mutate('mutation { archiveCustomer(input: {customerId: "acme"}) '
                           '{ errors { code } } }')
    assert codes(await report(gql, "acme", "storage", 1)) == ["CUSTOMER_ARCHIVED"]


async def test_a_meter_added_elsewhere_turns_reports_away(gql: GraphQLClient,
                                                          elsewhere: GraphQLClient) -> None:
    await setup(gql, "acme")
    assert await reported(gql, "acme", "storage", 1) == 1
    updated = await elsewhere.mutate(
        'mutation { updateFeature(input: {id: "storage", meter: {eventName: "upload", '
        'aggregation: COUNT}}) { errors { code } } }')
    assert updated["errors"] == []
    refused = await report(gql, "acme", "storage", 1)
    assert codes(refused) == ["INVALID_INPUT"] and "reportEvents" in refused["errors"][0][
        "message"]
