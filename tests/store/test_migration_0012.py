"""Migration 0012 repairs what the job used to leave undone: a CANCEL trial without its
default-plan fallback (a backdated one never got one) gets it, and the plans customers have
trialled are remembered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from alembic import command

from app.clock import FrozenClock
from app.db import Database
from app.main import create_app
from app.settings import Settings
from app.store.migrate import alembic_config, upgrade
from tests.graphql.entitlements.catalog import apply_catalog
from tests.graphql.entitlements.conftest import provision_customer, subscriptions
from tests.graphql.entitlements.test_trial_lifecycle import CATALOG
from tests.support import GraphQLClient, make_tenant

NOW = datetime.now(UTC).replace(microsecond=0)




async def _with_app(url: str, key: str | None = None) -> tuple[GraphQLClient, str, object]:
    app = create_app(url, Settings(), clock=FrozenClock(NOW))
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    if key is None:
        database = Database(url)
        key = (await make_tenant(database)).server_key
        await database.close()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    return GraphQLClient(http, key), key, (lifespan, http)


async def _close(handle: object) -> None:
    lifespan, http = handle  # type: ignore[misc]
    await http.aclose()
    await lifespan.__aexit__(None, None, None)


async def test_missing_fallbacks_are_made_and_trials_remembered(fresh_url: str) -> None:
    await asyncio.to_thread(upgrade, fresh_url)
    gql, key, handle = await _with_app(fresh_url)
    await apply_catalog(gql, CATALOG)
    backdated = NOW - timedelta(days=10)
    for customer, start in (("stuck", backdated), ("running", NOW)):
        payload = await provision_customer(
            gql, customerId=customer, subscription={"planId": "lab", "startDate": start.isoformat()}
        )
        assert payload["errors"] == []
    await _close(handle)
    # The state the old code left: no fallback made yet, nothing known about trials.
    conn = await asyncpg.connect(fresh_url)
    try:
        await conn.execute("DELETE FROM subscriptions WHERE fallback_for_pk IS NOT NULL")
    finally:
        await conn.close()
    config = alembic_config(fresh_url)
    await asyncio.to_thread(command.downgrade, config, "0012-1")
    await asyncio.to_thread(upgrade, fresh_url)

    gql, _, handle = await _with_app(fresh_url, key)
    try:
        stuck = {s["planId"]: s for s in await subscriptions(gql, "stuck")}
        assert stuck["free"]["status"] == "ACTIVE"
        assert stuck["free"]["startDate"] == (backdated + timedelta(days=7)).isoformat()
        running = {s["planId"]: s for s in await subscriptions(gql, "running")}
        assert running["free"]["status"] == "SCHEDULED"
        assert running["free"]["startDate"] == running["lab"]["trialEndDate"]
        # The fallback is linked: converting the trial withdraws it.
        done = await gql.mutate(
            "mutation($id: String!) { endTrial(input: {subscriptionId: $id, action: CONVERT})"
            " { errors { code } } }",
            {"id": running["lab"]["id"]},
        )
        assert done["errors"] == []
        after = {s["planId"]: s["status"] for s in await subscriptions(gql, "running")}
        assert after == {"lab": "ACTIVE", "free": "CANCELED"}
        # The trial is remembered: lab again (for the expired one) comes without a trial.
        again = await gql.mutate(
            'mutation { provisionSubscription(input: {customerId: "stuck", planId: "lab"})'
            " { subscription { planId status trialEndDate } errors { code } } }"
        )
        assert again["subscription"] == {"planId": "lab", "status": "ACTIVE", "trialEndDate": None}
    finally:
        await _close(handle)
