"""The SDK end to end against a real server process: state loaded on first use and kept fresh
by push, the same answers as the server's own check, an outage answered from the cache and
the fallbacks, a restart resynced, validUntil honoured.

Needs the server side of issue 12 (entitlementsState, graphql-transport-ws on /graphql).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from allot_sdk import CACHED, FALLBACK, SERVER, AllotClient, AllotUnavailable, AsyncAllotClient

from app.auth import KeyKind
from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.store import tenancy
from tests.e2e.process import demo_server
from tests.graphql.entitlements.catalog import CATALOG, apply_catalog, new_customer
from tests.graphql.usage.server import ApiServer
from tests.support import GraphQLClient, Tenant

pytestmark = pytest.mark.e2e

FEATURES = ["seats", "api-calls", "sso", "retention-days", "regions", "audit-log"]
SET_USAGE = """mutation($i: ReportUsageInput!) { reportUsage(input: $i) { accepted
  errors { code message } } }"""
GRANT = """mutation($input: GrantPromotionalEntitlementsInput!) {
  grantPromotionalEntitlements(input: $input) { errors { code message } } }"""
REVOKE_KEY = """mutation($id: ID!) { revokeApiKey(input: {id: $id}) { errors { code } } }"""
SERVER_CHECK = """query($c: String!, $f: String!, $n: Float, $v: [String!]) {
  entitlement(customerId: $c, featureId: $f, requestedUsage: $n, requestedValues: $v) {
    featureId featureType hasAccess denyReason isUnlimited isSoftLimit usageLimit currentUsage
    requestedUsage remaining value enumValues resetPeriod usagePeriodStart usagePeriodEnd
    sources { kind subscriptionId planId addonId quantity usageLimit isUnlimited isSoftLimit
              value enumValues isTrial isEffective } } }"""


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "not within the time limit"
        await asyncio.sleep(0.02)


@pytest.fixture
async def acme(api_gql: GraphQLClient) -> str:
    """A customer on the catalog's free plan (seats: hard 3; regions: eu; no sso)."""
    customer_id = f"acme-{uuid.uuid4().hex[:8]}"
    await apply_catalog(api_gql, CATALOG)
    await new_customer(api_gql, customer_id)
    return customer_id


async def set_seats(gql: GraphQLClient, customer: str, value: float) -> None:
    payload = await gql.mutate(
        SET_USAGE,
        {"i": {"customerId": customer, "featureId": "seats", "value": value, "mode": "SET"}},
    )
    assert payload["accepted"], payload


async def test_first_use_loads_then_answers_as_the_server_from_the_cache(
    api: ApiServer, tenant: Tenant, acme: str, api_gql: GraphQLClient
) -> None:
    async with AsyncAllotClient(api.base_url, tenant.server_key) as allot:
        first = await allot.check(acme, "seats")
        assert (first.has_access, first.reason) == (True, SERVER)
        requests: list[tuple[str, float | None, list[str] | None]] = [
            (feature, None, None) for feature in [*FEATURES, "no-such-feature"]
        ]
        requests += [
            ("seats", 3, None),
            ("seats", 4, None),
            ("regions", None, ["eu"]),
            ("regions", None, ["us"]),
            ("retention-days", None, None),
        ]
        for feature, usage, values in requests:
            local = await allot.check(acme, feature, usage, values)
            assert local.reason == CACHED
            server = (
                await api_gql.execute(
                    SERVER_CHECK, {"c": acme, "f": feature, "n": usage, "v": values}
                )
            )["entitlement"]
            assert local.to_dict() == server, feature
        unknown = await allot.check("no-such-customer", "seats")
        assert (unknown.has_access, unknown.deny_reason) == (False, "CUSTOMER_NOT_FOUND")
        assert (await allot.check("no-such-customer", "seats")).reason == CACHED


async def test_push_keeps_the_cache_fresh(
    api: ApiServer, tenant: Tenant, acme: str, api_gql: GraphQLClient
) -> None:
    async with AsyncAllotClient(api.base_url, tenant.server_key) as allot:
        await allot.preload([acme])
        await allot.wait_connected(10)
        assert (await allot.check(acme, "seats", 3)).has_access

        # A usage change: a usageChanged event.
        await set_seats(api_gql, acme, 3)

        async def full() -> bool:
            answer = await allot.check(acme, "seats")
            return answer.reason == CACHED and answer.deny_reason == "USAGE_LIMIT_EXCEEDED"

        await eventually(full)
        # An entitlement change: entitlementsChanged carries the new state.
        payload = await api_gql.mutate(
            GRANT,
            {
                "input": {
                    "customerId": acme,
                    "grants": [{"featureId": "sso", "duration": "ONE_MONTH"}],
                }
            },
        )
        assert payload["errors"] == []

        async def sso() -> bool:
            answer = await allot.check(acme, "sso")
            return answer.reason == CACHED and answer.has_access

        await eventually(sso)
        # A catalog publication: every cached state fetched again (a new feature appears).
        catalog = {
            **CATALOG,
            "features": [*CATALOG["features"], {"id": "exports", "type": "BOOLEAN"}],
        }
        await apply_catalog(api_gql, catalog)

        async def exports() -> bool:
            answer = await allot.check(acme, "exports")
            return answer.reason == CACHED and answer.deny_reason == "NOT_ENTITLED"

        await eventually(exports)
        assert allot.subscription_events >= 3


async def test_outage_answers_from_cache_then_fallbacks_and_a_restart_resyncs(
    api: ApiServer, tenant: Tenant, acme: str, api_gql: GraphQLClient
) -> None:
    async with AsyncAllotClient(
        api.base_url,
        tenant.server_key,
        max_staleness=3.0,
        ping_interval=0.5,
        request_timeout=1.0,
        reconnect_base=0.5,
        reconnect_cap=1.0,
        fallbacks={"seats": 1, "sso": True},
        default_fallback=False,
    ) as allot:
        await allot.preload([acme])
        await allot.wait_connected(10)
        await asyncio.to_thread(api.kill)
        # Within max_staleness: the cache answers, as it did.
        cached = await allot.check(acme, "seats", 2)
        assert (cached.has_access, cached.reason) == (True, CACHED)
        # A customer never loaded: the fallbacks, at once and without raising.
        started = time.monotonic()
        for feature, expected in (("sso", True), ("seats", True), ("regions", False)):
            answer = await allot.check("never-loaded", feature)
            assert (answer.has_access, answer.reason) == (expected, FALLBACK)
            assert answer.error
        assert not (await allot.check("never-loaded", "seats", 2)).has_access  # limit 1
        assert time.monotonic() - started < 5
        async with AsyncAllotClient(
            api.base_url, tenant.server_key, raise_on_error=True, request_timeout=0.5
        ) as strict:
            with pytest.raises(AllotUnavailable):
                await strict.check(acme, "seats")
        # Past max_staleness: no longer trusted, the fallback answers.
        await asyncio.sleep(3.5)
        stale = await allot.check(acme, "seats", 2)
        assert (stale.has_access, stale.reason) == (False, FALLBACK)
        # Restart, and a change made right away (while the SDK is still reconnecting).
        await asyncio.to_thread(api.start)
        await set_seats(api_gql, acme, 3)
        await allot.wait_connected(15)

        async def resynced() -> bool:
            answer = await allot.check(acme, "seats")
            return answer.reason == CACHED and answer.deny_reason == "USAGE_LIMIT_EXCEEDED"

        await eventually(resynced)


async def test_valid_until_refreshes_without_an_event(
    api: ApiServer, tenant: Tenant, acme: str, api_gql: GraphQLClient
) -> None:
    ends = datetime.now(UTC) + timedelta(seconds=3)
    payload = await api_gql.mutate(
        GRANT,
        {
            "input": {
                "customerId": acme,
                "grants": [{"featureId": "sso", "endDate": ends.isoformat()}],
            }
        },
    )
    assert payload["errors"] == []
    # No subscription at all: only validUntil can tell the SDK the promotion ended.
    async with AsyncAllotClient(api.base_url, tenant.server_key, subscribe=False) as allot:
        assert (await allot.check(acme, "sso")).has_access
        state = allot._engine._states[(acme, None)]
        assert state.refresh_at <= ends.timestamp() + 0.001

        async def ended() -> bool:
            return not (await allot.check(acme, "sso")).has_access

        await eventually(ended, within=10)


async def test_the_sync_client_answers_in_microseconds(
    api: ApiServer, tenant: Tenant, acme: str
) -> None:
    def use() -> dict[str, Any]:
        with AllotClient(api.base_url, tenant.server_key) as allot:
            allot.preload([acme])
            timings = []
            for _ in range(2_000):
                started = time.perf_counter_ns()
                answer = allot.check(acme, "seats", 1)
                timings.append(time.perf_counter_ns() - started)
            return {"answer": answer, "p50": sorted(timings)[1_000]}

    result = await asyncio.to_thread(use)
    assert result["answer"].has_access and result["answer"].reason == CACHED
    assert result["p50"] < 200_000  # far below one round trip (a loose bound for a test)


async def test_without_push_the_cache_is_kept_usable_by_polling(
    api: ApiServer, tenant: Tenant, acme: str, api_gql: GraphQLClient
) -> None:
    async with AsyncAllotClient(
        api.base_url, tenant.server_key, subscribe=False, max_staleness=2.0
    ) as allot:
        await allot.preload([acme])
        await set_seats(api_gql, acme, 3)  # no event can tell the SDK
        await asyncio.sleep(2.5)  # past max_staleness: only a background fetch keeps it
        answer = await allot.check(acme, "seats")
        assert (answer.reason, answer.deny_reason) == (CACHED, "USAGE_LIMIT_EXCEEDED")


def test_against_allot_serve_demo(tmp_path: Path) -> None:
    """`allot serve --demo` as a user starts it, and the SDK on its printed key."""
    with demo_server(tmp_path) as served, AllotClient(served.base_url, served.dev_key) as allot:
        allot.preload(["initech", "hooli"])
        allot.wait_connected(15)
        seats = allot.check("initech", "seats", 1)  # pro + 1 extra-seats add-on, 14 used
        assert (seats.has_access, seats.reason, seats.usage_limit) == (True, CACHED, 15.0)
        assert allot.check("hooli", "projects").deny_reason == "USAGE_LIMIT_EXCEEDED"
        assert allot.check("initech", "support-tier", requested_values=["premium"]).reason
        before = allot.check("initech", "projects").current_usage or 0.0
        for _ in range(50):
            allot.report_usage("initech", "projects", 1)
        allot.flush(timeout=30)
        deadline = time.monotonic() + 10
        while allot.check("initech", "projects").current_usage != before + 50:
            assert time.monotonic() < deadline, "the usage event never arrived"
            time.sleep(0.02)


async def test_a_revoked_key_ends_the_subscription(
    api: ApiServer, tenant: Tenant, acme: str, api_gql: GraphQLClient, db: Database
) -> None:
    async with audit.transaction(db, AuditActor.cli("tests: sdk revocation")) as session:
        row, secret = await tenancy.create_api_key(
            session, tenant.environments["development"], KeyKind.SERVER, "sdk-revoke-me"
        )
    async with AsyncAllotClient(
        api.base_url, secret, reconnect_base=0.2, reconnect_cap=0.4
    ) as allot:
        await allot.preload([acme])
        await allot.wait_connected(10)
        revoked = await api_gql.mutate(REVOKE_KEY, {"id": str(row.pk)})
        assert revoked["errors"] == []
        await asyncio.to_thread(api.kill)  # the socket drops; the SDK reconnects with it
        await asyncio.to_thread(api.start)
        task = allot._engine._ws_task
        assert task is not None

        async def gave_up() -> bool:
            return task.done()

        await eventually(gave_up, within=15)  # 4403: not retried
        assert not allot._engine.connected.is_set()


async def test_a_client_key_with_a_customer_token_reads_its_customer_only(
    api: ApiServer, tenant: Tenant, acme: str, api_gql: GraphQLClient
) -> None:
    """A frontend's SDK: the publishable key plus a customer token minted by the backend. Its
    customer is loaded and kept fresh by push; any other customer is refused by the server
    and answered from the fallback."""
    from tests.graphql.test_customer_tokens import token_for

    token = await token_for(api_gql, acme)
    other = f"other-{uuid.uuid4().hex[:8]}"
    await new_customer(api_gql, other)
    async with AsyncAllotClient(
        api.base_url, tenant.client_key, customer_token=token, fallbacks={"seats": False}
    ) as allot:
        first = await allot.check(acme, "seats")
        assert (first.has_access, first.reason) == (True, SERVER)
        await allot.wait_connected(10)
        await set_seats(api_gql, acme, 3)

        async def pushed() -> bool:  # the usage arrived by push: no seat left
            answer = await allot.check(acme, "seats", 1)
            return (answer.has_access, answer.reason) == (False, CACHED)

        await eventually(pushed)
        refused = await allot.check(other, "seats")
        assert (refused.has_access, refused.reason) == (False, FALLBACK)
