"""Engine fixtures: an app on a FrozenClock (time travel), the background job, and GraphQL
helpers for customers, subscriptions and promotions shared by the engine tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.clock import FrozenClock
from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.domain.subscriptions.changes import apply_due_changes
from app.main import create_app
from app.settings import Settings
from tests.support import GraphQLClient, client_of, make_tenant, running

# Far from the real clock, so the job never meets the subscriptions of real-clock tests.
START = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)

Job = Callable[[], Awaitable[int]]


@pytest.fixture(scope="session")
def frozen_clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture(scope="session")
async def frozen_app(database_url: str, frozen_clock: FrozenClock) -> AsyncIterator[Starlette]:
    async with running(create_app(database_url, Settings(), clock=frozen_clock)) as application:
        yield application


@pytest.fixture(scope="session")
async def frozen_http(frozen_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(frozen_app, "http://t") as client:
        yield client


@pytest.fixture
def clock(frozen_clock: FrozenClock) -> FrozenClock:
    """The app's clock, back at START for every test."""
    frozen_clock.set(START)
    return frozen_clock


@pytest.fixture
async def tgql(frozen_http: httpx.AsyncClient, db: Database, clock: FrozenClock) -> GraphQLClient:
    """A GraphQL client (fresh tenant) on the app whose clock the test moves."""
    tenant = await make_tenant(db)
    return GraphQLClient(frozen_http, tenant.server_key)


@pytest.fixture
def run_job(db: Database, clock: FrozenClock) -> Job:
    """Runs the background job `apply_due_changes` at the clock's now, in one transaction."""

    async def run() -> int:
        actor = AuditActor.system("jobs.due_changes", clock.now())
        async with audit.transaction(db, actor) as session:
            return await apply_due_changes(session, clock.now())

    return run


# --- GraphQL helpers -------------------------------------------------------------------------

SUBSCRIPTION_FIELDS = """id planId planVersion status resourceId billingPeriod startDate endDate
  trialEndDate trialEndBehavior isParallelTrial currentPeriodStart currentPeriodEnd canceledAt
  addons { addonId quantity } entitlements { featureId usageLimit isUnlimited value }
  scheduledChange { planId planVersion effectiveAt }"""

CUSTOMER = f"""query($id: String!) {{ customer(id: $id) {{
  id name email isArchived
  subscriptions {{ {SUBSCRIPTION_FIELDS} }}
  promotionalEntitlements {{ featureId duration startsAt endsAt
    entitlement {{ usageLimit isUnlimited value }} }} }} }}"""

SUBSCRIPTION = f"""query($id: String!) {{ subscription(id: $id) {{ {SUBSCRIPTION_FIELDS} }} }}"""

UPDATE = f"""mutation($input: UpdateSubscriptionInput!) {{ updateSubscription(input: $input) {{
  subscription {{ {SUBSCRIPTION_FIELDS} }} errors {{ code message field }} }} }}"""

CANCEL = f"""mutation($input: CancelSubscriptionInput!) {{ cancelSubscription(input: $input) {{
  subscription {{ {SUBSCRIPTION_FIELDS} }} errors {{ code message field }} }} }}"""

GRANT = """mutation($input: GrantPromotionalEntitlementsInput!) {
  grantPromotionalEntitlements(input: $input) {
    promotionalEntitlements { featureId duration startsAt endsAt }
    errors { code message field } } }"""

REVOKE = """mutation($input: RevokePromotionalEntitlementInput!) {
  revokePromotionalEntitlement(input: $input) {
    promotionalEntitlements { featureId } errors { code message field } } }"""

ARCHIVE = """mutation($input: ArchiveCustomerInput!) { archiveCustomer(input: $input) {
  customer { id isArchived } errors { code message field } } }"""

PROVISION_SUB = f"""mutation($input: ProvisionSubscriptionInput!) {{
  provisionSubscription(input: $input) {{
    subscription {{ {SUBSCRIPTION_FIELDS} }} errors {{ code message field }} }} }}"""

PROVISION_CUSTOMER = f"""mutation($input: ProvisionCustomerInput!) {{
  provisionCustomer(input: $input) {{ customer {{ id name email }}
    subscription {{ {SUBSCRIPTION_FIELDS} }} errors {{ code message field }} }} }}"""

ENTITLEMENT_R = """query($c: String!, $f: String!, $r: String) {
  entitlement(customerId: $c, featureId: $f, resourceId: $r) {
    hasAccess denyReason usageLimit isUnlimited value
    sources { kind subscriptionId planId addonId isEffective } } }"""


async def customer(gql: GraphQLClient, customer_id: str) -> dict[str, Any] | None:
    data = await gql.execute(CUSTOMER, {"id": customer_id})
    return data["customer"]  # type: ignore[no-any-return]


async def subscriptions(gql: GraphQLClient, customer_id: str) -> list[dict[str, Any]]:
    found = await customer(gql, customer_id)
    assert found is not None
    return found["subscriptions"]  # type: ignore[no-any-return]


async def live(gql: GraphQLClient, customer_id: str) -> list[dict[str, Any]]:
    """The customer's subscriptions that are in trial or active now."""
    return [
        s for s in await subscriptions(gql, customer_id) if s["status"] in ("IN_TRIAL", "ACTIVE")
    ]


async def subscription(gql: GraphQLClient, subscription_id: str) -> dict[str, Any] | None:
    data = await gql.execute(SUBSCRIPTION, {"id": subscription_id})
    return data["subscription"]  # type: ignore[no-any-return]


async def subscribe(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    """provisionSubscription with every subscription field in the answer."""
    return await gql.mutate(PROVISION_SUB, {"input": fields})  # type: ignore[no-any-return]


async def subscribed(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    """provisionSubscription that must succeed: the subscription."""
    payload = await subscribe(gql, **fields)
    assert payload["errors"] == [], payload["errors"]
    return payload["subscription"]  # type: ignore[no-any-return]


async def provision_customer(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    return await gql.mutate(PROVISION_CUSTOMER, {"input": fields})  # type: ignore[no-any-return]


async def update(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    return await gql.mutate(UPDATE, {"input": fields})  # type: ignore[no-any-return]


async def cancel(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    return await gql.mutate(CANCEL, {"input": fields})  # type: ignore[no-any-return]


async def grant(gql: GraphQLClient, customer_id: str, *grants: dict[str, Any]) -> dict[str, Any]:
    variables = {"input": {"customerId": customer_id, "grants": list(grants)}}
    return await gql.mutate(GRANT, variables)  # type: ignore[no-any-return]


async def revoke(gql: GraphQLClient, customer_id: str, feature_id: str) -> dict[str, Any]:
    variables = {"input": {"customerId": customer_id, "featureId": feature_id}}
    return await gql.mutate(REVOKE, variables)  # type: ignore[no-any-return]


async def archive(gql: GraphQLClient, customer_id: str) -> dict[str, Any]:
    return await gql.mutate(ARCHIVE, {"input": {"customerId": customer_id}})  # type: ignore[no-any-return]


async def check_r(
    gql: GraphQLClient, customer_id: str, feature_id: str, resource_id: str | None = None
) -> dict[str, Any]:
    """An entitlement check for a resource (None: the whole customer)."""
    data = await gql.execute(ENTITLEMENT_R, {"c": customer_id, "f": feature_id, "r": resource_id})
    return data["entitlement"]  # type: ignore[no-any-return]


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["errors"]]


def iso(at: datetime) -> str:
    return at.isoformat()


def when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
