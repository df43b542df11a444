"""Changes made without an API key are audited too: the background jobs as actor `system`
(the job as the operation), the CLI and the demo load as actor `cli` (the command)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from app.auth import KeyKind
from app.cli.catalog_files import apply_file
from app.cli.demo import load_demo
from app.clock import Clock
from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.settings import Settings
from app.store import tenancy
from app.workers.jobs import run_once
from tests.graphql.entitlements.catalog import apply_catalog, new_customer, provision
from tests.support import GraphQLClient

LOG = """query($op: String) { auditLog(first: 100, operation: $op) { edges { node {
  operation entityType entityId action actorKind actorKeyId before after } } } }"""


async def entries(gql: GraphQLClient, operation: str) -> list[dict[str, Any]]:
    data = await gql.execute(LOG, {"op": operation})
    return [e["node"] for e in data["auditLog"]["edges"]]


async def cli_environment(db: Database, http: httpx.AsyncClient) -> tuple[str, GraphQLClient]:
    """An environment with a slug of its own (the CLI finds environments by slug) and a
    server key to read its log."""
    slug = f"audit-{uuid.uuid4().hex[:10]}"
    async with audit.transaction(db, AuditActor.cli("tests: cli_environment")) as session:
        account = await tenancy.create_account(session, "audit test")
        env = await tenancy.create_environment(session, account.pk, slug, slug)
        _, secret = await tenancy.create_api_key(session, env.pk, KeyKind.SERVER)
    return slug, GraphQLClient(http, secret)


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_background_jobs_are_the_system_actor(gql: GraphQLClient, db: Database) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    past = datetime.now(UTC) - timedelta(days=30)
    trial = await provision(
        gql,
        customerId="acme",
        planId="analytics-basic",
        resourceId="ws",
        startDate=past.isoformat(),
        trial={"days": 1, "endBehavior": "CONVERT_TO_PAID"},
    )
    assert trial["errors"] == [], trial
    sub_id = trial["subscription"]["id"]
    pool = await db.pool()
    async with pool.acquire() as conn:  # what a long-stopped server left behind
        await conn.execute("UPDATE subscriptions SET status = 'IN_TRIAL' WHERE id = $1", sub_id)
    assert await run_once(db, Clock()) > 0
    moved = await entries(gql, "jobs.due_changes")
    (status,) = [e for e in moved if e["entityId"] == sub_id]
    assert status["actorKind"] == "system" and status["actorKeyId"] is None
    assert status["action"] == "UPDATE"
    assert (status["before"]["status"], status["after"]["status"]) == ("IN_TRIAL", "ACTIVE")


async def test_cli_keys_are_the_cli_actor(
    db: Database, http: httpx.AsyncClient, database_url: str
) -> None:
    slug, gql = await cli_environment(db, http)
    created = await asyncio.to_thread(
        cli, database_url, "keys", "create", "-e", slug, "--kind", "client", "--name", "ci"
    )
    assert created.returncode == 0, created.stderr
    key_id = re.findall(r"[0-9a-f-]{36}", created.stdout)[0]
    revoked = await asyncio.to_thread(cli, database_url, "keys", "revoke", key_id, "-e", slug)
    assert revoked.returncode == 0, revoked.stderr
    (create,) = await entries(gql, "keys create")
    assert create["actorKind"] == "cli" and create["entityId"] == key_id
    assert create["after"]["name"] == "ci" and create["after"]["kind"] == "client"
    secret = created.stdout.strip().splitlines()[-1]
    assert secret not in str(create)
    (revoke,) = await entries(gql, "keys revoke")
    assert revoke["actorKind"] == "cli" and revoke["before"]["revokedAt"] is None
    assert revoke["after"]["revokedAt"] is not None


async def test_catalog_apply_and_demo_load_are_the_cli_actor(
    db: Database, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    slug, gql = await cli_environment(db, http)
    path = tmp_path / "catalog.yaml"
    path.write_text("features:\n  - id: own-sso\n    type: BOOLEAN\nproducts: []\n")
    await apply_file(db, slug, path)
    (feature,) = await entries(gql, "catalog apply")
    assert feature["actorKind"] == "cli" and feature["entityId"] == "own-sso"
    async with db.session() as session:
        env = await tenancy.find_environment(session, slug)
    assert env is not None
    loaded = await load_demo(db, env, Settings(), datetime.now(UTC))
    assert loaded.catalog == "loaded" and loaded.created, loaded
    demo = await entries(gql, "serve --demo")
    assert demo and all(e["actorKind"] == "cli" for e in demo)
    assert {"FEATURE", "PRODUCT", "PLAN"} <= {e["entityType"] for e in demo}
    # The demo customers go through the API in-process, audited as the command too.
    customers = await entries(gql, "serve --demo: provisionCustomer")
    assert {e["entityId"] for e in customers if e["entityType"] == "CUSTOMER"} >= set(
        loaded.created
    )
    assert all(e["actorKind"] == "cli" for e in customers)


async def test_bootstrap_records_environments_and_keys(
    db: Database, http: httpx.AsyncClient
) -> None:
    slug, gql = await cli_environment(db, http)
    created = await entries(gql, "tests: cli_environment")
    assert {(e["entityType"], e["action"]) for e in created} == {
        ("ENVIRONMENT", "CREATE"),
        ("API_KEY", "CREATE"),
    }
    (environment,) = [e for e in created if e["entityType"] == "ENVIRONMENT"]
    assert environment["entityId"] == slug and environment["after"]["slug"] == slug
