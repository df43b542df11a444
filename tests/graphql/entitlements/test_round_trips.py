"""A warm entitlement check costs one database round trip (GraphQL and REST alike)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from app.store.key_revocations import ListenerConnection
from tests.graphql.entitlements.catalog import ENTITLEMENT, apply_catalog, new_customer, provision
from tests.graphql.entitlements.conftest import cancel
from tests.graphql.entitlements.test_query_count import count_statements
from tests.support import GraphQLClient


@contextmanager
def count_asyncpg_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    calls: list[str] = []
    for name in ("fetchrow", "fetch", "fetchval", "execute", "executemany"):
        original = getattr(asyncpg.connection.Connection, name)

        def counting(self: Any, *args: Any, __original: Any = original, __name: str = name,
                     **kwargs: Any) -> Any:
            # Not isinstance: asyncpg's metaclass makes every connection an instance of it.
            if type(self) is not ListenerConnection:  # its pings are no request's
                calls.append(__name)
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(asyncpg.connection.Connection, name, counting)
    yield calls
    monkeypatch.undo()


async def test_warm_check_is_one_round_trip(gql: GraphQLClient, app: Starlette,
                                            http: httpx.AsyncClient,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme", subscription={"planId": "pro", "skipTrial": True})
    variables = {"c": "acme", "f": "seats", "n": 1}
    await gql.execute(ENTITLEMENT, variables)  # warms the key cache and the entitlements
    with count_statements(app) as orm, count_asyncpg_calls(monkeypatch) as raw:
        data = await gql.execute(ENTITLEMENT, variables)
    assert data["entitlement"]["hasAccess"] is True
    assert orm == [] and raw == ["fetchrow"], (orm, raw)

    headers = {"Authorization": f"Bearer {gql.key}"}
    with count_statements(app) as orm, count_asyncpg_calls(monkeypatch) as raw:
        response = await http.get("/v1/customers/acme/entitlements/seats?requestedUsage=1",
                                  headers=headers)
    assert response.status_code == 200 and response.json()["usageLimit"] == 10
    assert orm == [] and raw == ["fetchrow"], (orm, raw)


async def test_warm_resource_check_is_one_round_trip_and_sees_changes_at_once(
        gql: GraphQLClient, app: Starlette, monkeypatch: pytest.MonkeyPatch) -> None:
    """Entitlements scoped to a resource are computed once and kept while the customer's
    cached entitlements stay the same version; any change to the customer shows at once."""
    await apply_catalog(gql)
    await new_customer(gql, "acme", subscription={"planId": "pro", "skipTrial": True})
    made = await provision(gql, customerId="acme", planId="analytics-basic", resourceId="ws1")
    assert made["errors"] == [], made
    query = """query($c: String!, $f: String!, $r: String) {
      entitlement(customerId: $c, featureId: $f, resourceId: $r) { hasAccess usageLimit } }"""
    variables = {"c": "acme", "f": "retention-days", "r": "ws1"}
    await gql.execute(query, variables)  # computes and keeps the resource's entitlements
    with count_statements(app) as orm, count_asyncpg_calls(monkeypatch) as raw:
        data = await gql.execute(query, variables)
    assert data["entitlement"]["hasAccess"] is True
    assert orm == [] and raw == ["fetchrow"], (orm, raw)

    assert data["entitlement"]["usageLimit"] is None  # a value feature: no limit
    retention = """query($c: String!, $r: String) { entitlement(customerId: $c,
      featureId: "retention-days", resourceId: $r) { value } }"""
    assert (await gql.execute(retention, {"c": "acme", "r": "ws1"}))["entitlement"][
        "value"] == 90  # analytics-basic's, more generous than pro's 30
    canceled = await cancel(gql, subscriptionId=made["subscription"]["id"], at="IMMEDIATE")
    assert canceled["errors"] == [], canceled
    assert (await gql.execute(retention, {"c": "acme", "r": "ws1"}))["entitlement"][
        "value"] == 30  # the kept computation was not reused after the change
