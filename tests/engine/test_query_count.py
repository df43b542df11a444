"""Listing customers with subscriptions, add-ons and effective entitlements costs a fixed
number of SQL statements, whatever the number of customers (no N+1)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from starlette.applications import Starlette

from tests.engine.catalog import apply_catalog, new_customer
from tests.support import GraphQLClient

LIST = """query($first: Int) { customers(first: $first) { totalCount edges { node {
  id subscriptions { id status planId plan { id version } addons { addonId quantity addon { id } }
                     currentPeriodEnd }
  promotionalEntitlements { featureId }
  entitlements { featureId hasAccess usageLimit sources { kind isEffective } }
} } } }"""


@contextmanager
def count_statements(app: Starlette) -> Iterator[list[str]]:
    engine = app.state.services.db.engine.sync_engine
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def _provision(gql: GraphQLClient, start: int, count: int) -> None:
    for i in range(start, start + count):
        await new_customer(gql, f"c{i:03}", subscription={
            "planId": "pro", "skipTrial": True,
            "addons": [{"addonId": "extra-seats", "quantity": 1 + i % 3}]})


async def test_customer_list_statements_do_not_grow(gql: GraphQLClient, app: Starlette) -> None:
    await apply_catalog(gql)
    await _provision(gql, 0, 5)
    await gql.execute(LIST, {"first": 100})  # warm: entitlements computed and cached
    with count_statements(app) as few:
        small = await gql.execute(LIST, {"first": 100})
    await _provision(gql, 5, 95)
    await gql.execute(LIST, {"first": 100})
    with count_statements(app) as many:
        large = await gql.execute(LIST, {"first": 100})
    assert len(small["customers"]["edges"]) == 5
    assert len(large["customers"]["edges"]) == 100
    node = large["customers"]["edges"][-1]["node"]
    assert node["subscriptions"][0]["addons"][0]["addon"]["id"] == "extra-seats"
    assert any(e["featureId"] == "seats" for e in node["entitlements"])
    assert len(many) == len(few), (few, many)
    assert len(many) <= 12, many
