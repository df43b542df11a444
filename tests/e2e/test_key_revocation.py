"""Revoking an API key is effective in every server process within a second: two real server
processes on one database both cache the key; it is revoked through one of them (and another
through a third process, as `allot keys revoke` does), and the other refuses it at once,
although its cache would have kept it for seconds."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.auth import KeyKind
from app.clock import Clock
from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.store import tenancy as store
from tests.graphql.usage.server import ApiServer
from tests.support import Tenant

pytestmark = pytest.mark.e2e

WITHIN_SECONDS = 1.0
REVOKE = """mutation($id: ID!) { revokeApiKey(input: {id: $id}) { errors { code } } }"""


@pytest.fixture(scope="module")
def two_servers(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiServer, ApiServer]]:
    logs = tmp_path_factory.mktemp("revocation")
    first = ApiServer(database_url, Path(logs) / "a.log", workers=1)
    second = ApiServer(database_url, Path(logs) / "b.log", workers=1)
    try:
        first.start()
        second.start()
        yield first, second
    finally:
        first.close()
        second.close()


async def _status(http: httpx.AsyncClient, base_url: str, key: str) -> int:
    response = await http.post(
        f"{base_url}/graphql",
        json={"query": "{ __typename }"},
        headers={"Authorization": f"Bearer {key}"},
    )
    return response.status_code


async def _refused_after(http: httpx.AsyncClient, base_url: str, key: str) -> float:
    """Seconds until `base_url` answers 401 to `key` (polling), at most 10."""
    started = time.monotonic()
    while time.monotonic() - started < 10:
        if await _status(http, base_url, key) == 401:
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    return float("inf")


async def _new_key(db: Database, tenant: Tenant) -> tuple[str, str]:
    async with audit.transaction(db, AuditActor.cli("tests: revocation")) as session:
        row, secret = await store.create_api_key(
            session, tenant.environments["development"], KeyKind.CLIENT, "revoke-me"
        )
    return str(row.pk), secret


async def test_a_revoked_key_is_refused_by_every_process_within_a_second(
    two_servers: tuple[ApiServer, ApiServer], db: Database, tenant: Tenant
) -> None:
    a, b = two_servers
    through_api_id, through_api = await _new_key(db, tenant)
    elsewhere_id, elsewhere = await _new_key(db, tenant)
    async with httpx.AsyncClient(timeout=5) as http:
        for server in (a, b):  # both processes now hold both keys in their caches
            for key in (through_api, elsewhere):
                assert await _status(http, server.base_url, key) == 200

        # Through process A's API.
        response = await http.post(
            f"{a.base_url}/graphql",
            json={"query": REVOKE, "variables": {"id": through_api_id}},
            headers={"Authorization": f"Bearer {tenant.server_key}"},
        )
        assert response.json() == {"data": {"revokeApiKey": {"errors": []}}}
        assert await _status(http, a.base_url, through_api) == 401
        assert await _refused_after(http, b.base_url, through_api) < WITHIN_SECONDS

        # From a third process (what `allot keys revoke` does): neither server revoked it.
        async with audit.transaction(db, AuditActor.cli("tests: revocation")) as session:
            revoked = await store.revoke_api_key(
                session, tenant.environments["development"], uuid.UUID(elsewhere_id), Clock().now()
            )
        assert revoked is not None
        for server in (a, b):
            assert await _refused_after(http, server.base_url, elsewhere) < WITHIN_SECONDS


CHECK = '{ entitlement(customerId: "anyone", featureId: "f") { hasAccess } }'
REQUIRE = """mutation($on: Boolean!) { updateEnvironmentSettings(input:
  {requireCustomerTokens: $on}) { errors { code } } }"""


async def _check_code(http: httpx.AsyncClient, base_url: str, key: str) -> str | None:
    response = await http.post(
        f"{base_url}/graphql", json={"query": CHECK}, headers={"Authorization": f"Bearer {key}"}
    )
    errors = response.json().get("errors")
    return errors[0]["extensions"]["code"] if errors else None


async def test_requiring_customer_tokens_reaches_every_process_within_a_second(
    two_servers: tuple[ApiServer, ApiServer], tenant: Tenant
) -> None:
    """The setting is part of each cached key's principal: changed through process A, it is
    enforced by process B at once (NOTIFY), not after B's key cache expires."""
    a, b = two_servers
    async with httpx.AsyncClient(timeout=5) as http:
        for server in (a, b):  # both hold the client key in their caches
            assert await _check_code(http, server.base_url, tenant.client_key) is None
        for on, expected in ((True, "FORBIDDEN"), (False, None)):
            response = await http.post(
                f"{a.base_url}/graphql",
                json={"query": REQUIRE, "variables": {"on": on}},
                headers={"Authorization": f"Bearer {tenant.server_key}"},
            )
            assert response.json() == {"data": {"updateEnvironmentSettings": {"errors": []}}}
            assert await _check_code(http, a.base_url, tenant.client_key) == expected
            started = time.monotonic()
            while await _check_code(http, b.base_url, tenant.client_key) != expected:
                assert time.monotonic() - started < WITHIN_SECONDS, on
                await asyncio.sleep(0.02)
