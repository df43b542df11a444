"""Listing customers with subscriptions, add-ons and effective entitlements costs a fixed
number of SQL statements, whatever the number of customers (no N+1). Every statement
counts: those of the ORM engine and those of the raw asyncpg pool (the hot paths' SQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from asyncpg.connection import LoggedQuery
from sqlalchemy import event
from starlette.applications import Starlette

from app.store import customers as customers_store
from app.web import graphql as http_module
from tests.graphql import test_insights as insights
from tests.graphql.entitlements.catalog import apply_catalog, new_customer
from tests.graphql.usage import helpers as usage_helpers
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


class _LoggedAcquire:
    """`pool.acquire()` with asyncpg's own query logger on the connection while it is held."""

    def __init__(self, inner: Any, logger: Callable[[LoggedQuery], None]) -> None:
        self._inner = inner
        self._logger = logger
        self._conn: Any = None

    async def __aenter__(self) -> Any:
        self._conn = await self._inner.__aenter__()
        self._conn.add_query_logger(self._logger)
        return self._conn

    async def __aexit__(self, *exc: Any) -> Any:
        self._conn.remove_query_logger(self._logger)
        return await self._inner.__aexit__(*exc)


class _LoggedPool:
    """The app's raw pool, handing out connections that log every query they run. The app
    reaches the pool only as `async with (await db.pool()).acquire() as conn` (checked by
    `test_the_raw_pool_is_reached_only_through_acquire`)."""

    def __init__(self, pool: Any, logger: Callable[[LoggedQuery], None]) -> None:
        self._pool = pool
        self._logger = logger

    def acquire(self, **kwargs: Any) -> _LoggedAcquire:
        return _LoggedAcquire(self._pool.acquire(**kwargs), self._logger)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


@asynccontextmanager
async def count_every_statement(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[list[str]]:
    """Every SQL statement the app runs while the block runs, ORM and raw alike: the
    engine's (SQLAlchemy's `before_cursor_execute`), the raw pool's and the read
    connections' (asyncpg's query logger, on each connection `pool.acquire()` and
    `db.read()` hand out)."""
    db = app.state.services.db
    pool = await db.pool()
    seen: list[str] = []

    def logged(record: LoggedQuery) -> None:
        seen.append(record.query)

    async def logged_pool() -> _LoggedPool:
        return _LoggedPool(pool, logged)

    read = db.read

    def logged_read() -> _LoggedAcquire:
        return _LoggedAcquire(read(), logged)

    with monkeypatch.context() as patch, count_statements(app) as orm:
        patch.setattr(db, "pool", logged_pool)
        patch.setattr(db, "read", logged_read)
        orm_seen = orm
        yield seen
        await asyncio.sleep(0)  # asyncpg calls its loggers soon after each query, not in it
    seen.extend(orm_seen)


async def _provision(gql: GraphQLClient, start: int, count: int) -> None:
    for i in range(start, start + count):
        await new_customer(
            gql,
            f"c{i:03}",
            subscription={
                "planId": "pro",
                "skipTrial": True,
                "addons": [{"addonId": "extra-seats", "quantity": 1 + i % 3}],
            },
        )


async def _listing_statements(
    gql: GraphQLClient, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], list[str], list[str], list[str]]:
    """The statements of the listing with 5 customers, then with 100: every statement, and
    the ORM's alone. The caller's key stays cached throughout (provisioning 95 customers
    may outlast the cache's few seconds), so its lookup is in neither count."""
    monkeypatch.setattr(http_module, "AUTH_CACHE_SECONDS", 3600.0)
    await apply_catalog(gql)
    await _provision(gql, 0, 5)
    await gql.execute(LIST, {"first": 100})  # warm: entitlements computed and cached
    async with count_every_statement(app, monkeypatch) as few:
        with count_statements(app) as few_orm:
            small = await gql.execute(LIST, {"first": 100})
    await _provision(gql, 5, 95)
    await gql.execute(LIST, {"first": 100})
    async with count_every_statement(app, monkeypatch) as many:
        with count_statements(app) as many_orm:
            large = await gql.execute(LIST, {"first": 100})
    assert len(small["customers"]["edges"]) == 5
    assert len(large["customers"]["edges"]) == 100
    node = large["customers"]["edges"][-1]["node"]
    assert node["subscriptions"][0]["addons"][0]["addon"]["id"] == "extra-seats"
    assert any(e["featureId"] == "seats" for e in node["entitlements"])
    return few, many, few_orm, many_orm


async def test_customer_list_statements_do_not_grow(
    gql: GraphQLClient, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    few, many, few_orm, many_orm = await _listing_statements(gql, app, monkeypatch)
    assert len(few) > len(few_orm), "the raw pool's statements are counted too"
    assert len(many) == len(few), (few, many)
    # 12 through the ORM (the bound before the raw pool was counted) and the raw pool's one
    # usage read for the whole page.
    assert len(many_orm) <= 12 and len(many) <= 13, many


async def test_the_read_connections_statements_are_counted(
    gql: GraphQLClient, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warm check runs its one statement on the read connections (`db.read()`): counted."""
    monkeypatch.setattr(http_module, "AUTH_CACHE_SECONDS", 3600.0)
    await apply_catalog(gql)
    await new_customer(gql, "reader", subscription={"planId": "pro", "skipTrial": True})
    check = 'query { entitlement(customerId: "reader", featureId: "seats") { hasAccess } }'
    await gql.execute(check)  # warm
    async with count_every_statement(app, monkeypatch) as seen:
        await gql.execute(check)
    assert len(seen) == 1 and "customer_feature_entitlements" in seen[0], seen


async def test_an_n_plus_one_through_the_raw_pool_is_caught(
    gql: GraphQLClient, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listing's usage read made one statement per customer on the raw pool: counting
    the ORM alone sees nothing grow (the N+1 that used to pass), every statement does."""
    batched = customers_store.latest_usage

    async def one_by_one(conn: Any, customer_pks: Any, *args: Any) -> Any:
        out = {}
        for pk in customer_pks:
            out.update(await batched(conn, [pk], *args))
        return out

    monkeypatch.setattr(customers_store, "latest_usage", one_by_one)
    few, many, few_orm, many_orm = await _listing_statements(gql, app, monkeypatch)
    assert len(many_orm) == len(few_orm)  # blind to it
    assert len(many) == len(few) + 95, (few, many)  # one more statement per customer


def test_the_raw_pool_is_reached_only_through_acquire() -> None:
    """`count_every_statement` logs the connections `acquire()` hands out: the app must not
    run statements on the pool object itself (pool.fetch…), which it would not see."""
    import re
    from pathlib import Path

    app_dir = Path(__file__).resolve().parents[2] / "app"
    direct = re.compile(r"pool\.(fetch|fetchrow|fetchval|execute|executemany|copy_\w+)\(")
    offenders = [str(path) for path in app_dir.rglob("*.py") if direct.search(path.read_text())]
    assert offenders == []


# --- the insights (tests/graphql/test_insights.py checks their numbers) ---------------------


async def _insights_statements(
    gql: GraphQLClient, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    await gql.execute(insights.INSIGHTS, {"feature": "seats"})  # warm: the document is checked once
    async with count_every_statement(app, monkeypatch) as seen:
        await gql.execute(insights.INSIGHTS, {"feature": "seats"})
    return seen


async def test_insights_statements_do_not_grow_with_the_customers(
    gql: GraphQLClient, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_module, "AUTH_CACHE_SECONDS", 3600.0)
    await apply_catalog(gql)
    await new_customer(gql, "only", subscription=insights.BY_INVOICE)
    few = await _insights_statements(gql, app, monkeypatch)
    for i in range(12):
        sub = {"planId": "pro", "trial": {"days": 2}} if i % 3 else insights.BY_INVOICE
        await new_customer(gql, f"more-{i}", subscription=sub)
        await usage_helpers.reported(gql, f"more-{i}", "seats", i)
    many = await _insights_statements(gql, app, monkeypatch)
    assert len(many) == len(few), (few, many)
    # per field: the session tuning (jit, work_mem), its reads, and the plan/feature loaders
    assert len(many) <= 20, many
