"""Push end to end: two real server processes on one database; a change made through one is
pushed to subscribers connected to the other (graphql-transport-ws)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from app.db import Database
from app.store import customers as customer_store
from tests.e2e.push_client import PROTOCOL, Closed, PushClient, two_api_servers
from tests.graphql.entitlements.catalog import apply_catalog, new_customer
from tests.graphql.entitlements.conftest import grant
from tests.graphql.usage.helpers import report
from tests.graphql.usage.server import ApiServer
from tests.support import GraphQLClient, Tenant

pytestmark = pytest.mark.e2e

CHANGED = """subscription($c: String) { entitlementsChanged(customerId: $c) { customerId version
  state { version denyReason entitlements { featureId hasAccess usageLimit featureType } } } }"""
USAGE = """subscription($c: String, $f: String) { usageChanged(customerId: $c, featureId: $f) {
  customerId featureId currentUsage usageLimit version } }"""
CATALOG = "subscription { catalogPublished { kind id version publishedAt } }"
SETTLE = 0.3  # for the subscribe message to be registered before the change is made


@pytest.fixture(scope="module")
def two_servers(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiServer, ApiServer]]:
    with two_api_servers(database_url, tmp_path_factory.mktemp("push")) as servers:
        yield servers


@pytest.fixture
async def through_a(
    two_servers: tuple[ApiServer, ApiServer], tenant: Tenant
) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(base_url=two_servers[0].base_url, timeout=10) as http:
        client = GraphQLClient(http, tenant.server_key)
        await apply_catalog(client)
        await new_customer(client, "acme")
        yield client


async def _connect(server: ApiServer, key: str) -> PushClient:
    return await PushClient.connect(server.base_url, {"Authorization": f"Bearer {key}"})


async def test_a_change_through_one_process_reaches_a_subscriber_of_the_other(
    two_servers: tuple[ApiServer, ApiServer],
    through_a: GraphQLClient,
    tenant: Tenant,
) -> None:
    b = two_servers[1]
    client = await PushClient.connect(b.base_url, {"apiKey": tenant.client_key})
    everyone = await _connect(b, tenant.server_key)
    try:
        await client.subscribe("1", CHANGED, {"c": "acme"})
        await everyone.subscribe("all", CHANGED)
        await asyncio.sleep(SETTLE)
        assert (await grant(through_a, "acme", {"featureId": "sso", "duration": "ONE_WEEK"}))[
            "errors"
        ] == []
        for subscriber, op in ((client, "1"), (everyone, "all")):
            message = await subscriber.next_payload(op)
            assert message["type"] == "next", message
            change = message["payload"]["data"]["entitlementsChanged"]
            assert change["customerId"] == "acme"
            assert change["version"] == change["state"]["version"]
            sso = {e["featureId"]: e for e in change["state"]["entitlements"]}["sso"]
            assert sso == {
                "featureId": "sso",
                "hasAccess": True,
                "usageLimit": None,
                "featureType": "BOOLEAN",
            }
        state = await through_a.execute(
            'query { entitlementsState(customerId: "acme") { version } }'
        )
        assert state["entitlementsState"]["version"] == change["version"]
    finally:
        await client.close()
        await everyone.close()


async def test_usage_events_are_coalesced_and_the_last_value_is_delivered(
    two_servers: tuple[ApiServer, ApiServer],
    through_a: GraphQLClient,
    tenant: Tenant,
) -> None:
    b = two_servers[1]
    client = await _connect(b, tenant.server_key)
    try:
        await client.subscribe("u", USAGE, {"c": "acme", "f": "seats"})
        await asyncio.sleep(SETTLE)
        started = time.monotonic()
        for _ in range(100):
            assert (await report(through_a, "acme", "seats", 1))["accepted"]
        took = time.monotonic() - started
        events = []
        while True:
            message = await client.next_payload("u", within=3)
            usage = message["payload"]["data"]["usageChanged"]
            events.append(usage)
            if usage["currentUsage"] == 100:
                break
        assert await client.nothing_for(0.3) == []  # nothing after the last value
        assert events[-1]["customerId"] == "acme" and events[-1]["usageLimit"] == 3
        versions = [int(e["version"]) for e in events]
        assert versions == sorted(versions) and len(set(versions)) == len(versions)
        # At most one event per 50 ms (plus the first), far fewer than the 100 reports.
        assert len(events) <= took / 0.05 + 2, (len(events), took)
        assert len(events) < 100
    finally:
        await client.close()


async def test_a_client_key_must_name_the_customer(
    two_servers: tuple[ApiServer, ApiServer],
    tenant: Tenant,
) -> None:
    client = await _connect(two_servers[1], tenant.client_key)
    try:
        for op, query in (("e", CHANGED), ("u", USAGE)):
            await client.subscribe(op, query)
            message = await client.next_payload(op)
            errors = (
                message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            )
            assert errors[0]["extensions"]["code"] == "FORBIDDEN", message
    finally:
        await client.close()


@pytest.mark.parametrize(
    "init",
    [None, {"apiKey": "sk_live_nope"}, {"Authorization": "Bearer nope"}, {"Authorization": 3}],
)
async def test_no_key_or_an_unknown_one_closes_the_connection(
    two_servers: tuple[ApiServer, ApiServer],
    init: dict[str, object] | None,
) -> None:
    with pytest.raises(Closed) as closed:
        await PushClient.connect(two_servers[1].base_url, init)
    assert closed.value.code == 4403


async def test_subscribing_before_connection_init_closes_with_4401(
    two_servers: tuple[ApiServer, ApiServer],
) -> None:
    url = two_servers[1].base_url.replace("http", "ws", 1) + "/graphql"
    async with websockets.connect(url, subprotocols=[Subprotocol(PROTOCOL)]) as ws:
        client = PushClient(ws)
        await client.subscribe("1", CATALOG)
        with pytest.raises(Closed) as closed:
            await client.receive()
    assert closed.value.code == 4401


async def test_queries_and_invalid_documents_are_refused_on_the_socket(
    two_servers: tuple[ApiServer, ApiServer],
    tenant: Tenant,
) -> None:
    client = await _connect(two_servers[1], tenant.server_key)
    try:
        await client.subscribe("q", "{ __typename }")
        message = await client.next_payload("q")
        assert message["type"] == "error", message
        await client.subscribe("v", "subscription { entitlementsChanged { nope } }")
        message = await client.next_payload("v")
        assert message["type"] == "error" and "nope" in message["payload"][0]["message"]
    finally:
        await client.close()


async def test_another_environments_changes_are_never_delivered(
    two_servers: tuple[ApiServer, ApiServer],
    through_a: GraphQLClient,
    tenant: Tenant,
) -> None:
    a, b = two_servers
    async with httpx.AsyncClient(base_url=a.base_url, timeout=10) as http:
        production = GraphQLClient(http, tenant.server_keys["production"])
        await apply_catalog(production)
        await new_customer(production, "acme")  # the same id, in another environment
        client = await _connect(b, tenant.server_key)
        try:
            await client.subscribe("all", CHANGED)
            await client.subscribe("u", USAGE)
            await asyncio.sleep(SETTLE)
            assert (await grant(production, "acme", {"featureId": "sso", "duration": "ONE_WEEK"}))[
                "errors"
            ] == []
            assert (await report(production, "acme", "seats", 1))["accepted"]
            assert await client.nothing_for(1.0) == []
            # The development customer's change does arrive (the subscription was live).
            assert (await report(through_a, "acme", "seats", 2))["accepted"]
            message = await client.next_payload("u")
            assert message["payload"]["data"]["usageChanged"]["currentUsage"] == 2
        finally:
            await client.close()


async def test_a_rolled_back_change_announces_nothing(
    two_servers: tuple[ApiServer, ApiServer],
    through_a: GraphQLClient,
    tenant: Tenant,
    db: Database,
) -> None:
    client = await _connect(two_servers[1], tenant.server_key)
    env = tenant.environments["development"]
    try:
        await client.subscribe("e", CHANGED, {"c": "acme"})
        await client.subscribe("u", USAGE, {"c": "acme"})
        await asyncio.sleep(SETTLE)
        assert (await report(through_a, "acme", "seats", 1))["accepted"]
        assert (await client.next_payload("u"))["payload"]["data"]["usageChanged"][
            "currentUsage"
        ] == 1
        now = datetime.now(UTC)

        class Rollback(Exception):
            pass

        with pytest.raises(Rollback):
            async with db.transaction() as session:
                customer = await customer_store.get_customer(session, env, "acme", lock=True)
                assert customer is not None
                await customer_store.save_entitlements(
                    session, customer.pk, env, {}, False, None, now
                )
                raise Rollback
        # A report that records nothing (a consume over the hard limit) announces nothing.
        refused = await report(through_a, "acme", "seats", 10, consume=True)
        assert not refused["accepted"]
        assert await client.nothing_for(1.0) == []
        async with db.transaction() as session:  # the same change, committed: announced
            customer = await customer_store.get_customer(session, env, "acme", lock=True)
            assert customer is not None
            await customer_store.save_entitlements(session, customer.pk, env, {}, False, None, now)
        change = (await client.next_payload("e"))["payload"]["data"]["entitlementsChanged"]
        assert change["customerId"] == "acme" and change["state"]["entitlements"]
    finally:
        await client.close()


async def test_publishing_a_plan_is_announced(
    two_servers: tuple[ApiServer, ApiServer],
    through_a: GraphQLClient,
    tenant: Tenant,
) -> None:
    client = await _connect(two_servers[1], tenant.client_key)
    before = (
        await through_a.execute('query { entitlementsState(customerId: "acme") { version } }')
    )["entitlementsState"]
    try:
        await client.subscribe("c", CATALOG)
        await client.subscribe("e", CHANGED, {"c": "acme"})
        await asyncio.sleep(SETTLE)
        payload = await through_a.mutate(
            'mutation { updatePlan(input: {id: "free", name: "Free forever"}) { errors { code } } }'
        )
        assert payload["errors"] == [], payload
        payload = await through_a.mutate(
            'mutation { publishPlan(input: {id: "free"}) { errors { code } } }'
        )
        assert payload["errors"] == [], payload
        publication = (await client.next_payload("c"))["payload"]["data"]["catalogPublished"]
        assert publication["kind"] == "PLAN" and publication["id"] == "free"
        assert publication["version"] == 2
        # acme is on `free`: the publish made its cached entitlements stale, and the process
        # watching it recomputed them at once (docs/push.md "Publishing").
        change = (await client.next_payload("e"))["payload"]["data"]["entitlementsChanged"]
        assert int(change["version"]) > int(before["version"])
    finally:
        await client.close()


async def test_a_connection_holds_at_most_100_operations(
    two_servers: tuple[ApiServer, ApiServer], tenant: Tenant
) -> None:
    client = await _connect(two_servers[1], tenant.server_key)
    try:
        for op in range(100):
            await client.subscribe(str(op), CATALOG)
        assert await client.nothing_for(0.3) == []
        await client.subscribe("one too many", CATALOG)
        message = await client.next_payload("one too many")
        assert message["type"] == "error"
        assert message["payload"][0]["message"] == "Subscription limit reached"
        await client.send({"id": "0", "type": "complete"})  # a place frees up
        await asyncio.sleep(0.1)
        await client.subscribe("again", CATALOG)
        assert await client.nothing_for(0.3) == []
    finally:
        await client.close()


async def test_a_customer_token_narrows_a_client_keys_subscriptions(
    two_servers: tuple[ApiServer, ApiServer],
    through_a: GraphQLClient,
    tenant: Tenant,
) -> None:
    """`customerToken` in connection_init: the client key may subscribe to that customer only;
    a token that does not verify refuses the connection (4403)."""
    from tests.graphql.test_customer_tokens import token_for

    token = await token_for(through_a, "acme")
    b = two_servers[1]
    client = await PushClient.connect(
        b.base_url, {"apiKey": tenant.client_key, "customerToken": token})
    try:
        await client.subscribe("other", CHANGED, {"c": "globex"})
        refused = await client.next_payload("other")
        errors = (
            refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
        )
        assert errors[0]["extensions"]["code"] == "FORBIDDEN", refused
        await client.subscribe("mine", CHANGED, {"c": "acme"})
        await asyncio.sleep(SETTLE)
        assert (await grant(through_a, "acme", {"featureId": "sso", "duration": "ONE_WEEK"}))[
            "errors"
        ] == []
        message = await client.next_payload("mine")
        assert message["type"] == "next", message
        assert message["payload"]["data"]["entitlementsChanged"]["customerId"] == "acme"
    finally:
        await client.close()
    with pytest.raises(Closed) as closed:
        await PushClient.connect(
            b.base_url, {"apiKey": tenant.client_key, "customerToken": token[:-4] + "AAAA"})
    assert closed.value.code == 4403
