"""The per-process key cache is only used while the process listens for revocations: a key
revoked while the listening connection is down (so its NOTIFY is lost) is refused anyway."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.db import Database
from app.store import tenancy as store
from app.web.graphql import Services
from tests.support import Tenant


async def _status(http: httpx.AsyncClient, key: str) -> int:
    response = await http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Authorization": f"Bearer {key}"}
    )
    return response.status_code


async def _key_pk(db: Database, tenant: Tenant, secret: str) -> uuid.UUID:
    pool = await db.pool()
    async with pool.acquire() as conn:
        principal = await store.principal_for_key(conn, secret)
    assert principal is not None
    return principal.key_pk


async def test_the_app_listens_for_revocations(app: Starlette) -> None:
    services: Services = app.state.services
    assert services.revocations is not None and services.revocations.listening


async def test_no_cache_while_not_listening(
    app: Starlette, http: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    services: Services = app.state.services
    listener = services.revocations
    assert listener is not None
    key = tenant.client_key
    assert await _status(http, key) == 200  # cached now
    pool = await db.pool()
    async with pool.acquire() as conn:  # revoked without a NOTIFY: no process hears of it
        await conn.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE pk = $1", await _key_pk(db, tenant, key)
        )
    assert await _status(http, key) == 200  # the cache still has it (for a few seconds)
    listener.listening = False  # as while the listening connection is down
    try:
        assert await _status(http, key) == 401
    finally:
        listener.listening = True


async def test_concurrent_misses_share_one_lookup(
    app: Starlette, http: httpx.AsyncClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a busy key's cache entry expires, the requests in flight wait for one lookup
    instead of each running its own."""
    from app.web import graphql as module

    looked_up = []
    real = module.principal_for_key

    async def counted(conn: Any, secret: str) -> Any:
        looked_up.append(secret)
        await asyncio.sleep(0.05)  # long enough for every request to miss meanwhile
        return await real(conn, secret)

    monkeypatch.setattr(module, "principal_for_key", counted)
    app.state.services.forget_all_keys()
    statuses = await asyncio.gather(*(_status(http, tenant.server_key) for _ in range(20)))
    assert statuses == [200] * 20
    assert looked_up == [tenant.server_key]
