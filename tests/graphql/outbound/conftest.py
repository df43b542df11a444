"""Webhook fixtures: a real local receiver, a frozen clock near real time (signatures carry a
timestamp), the worker's HTTP client, and GraphQL helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.clock import FrozenClock
from app.db import Database
from app.domain.outbound.outbox import emit
from app.domain.outbound.targets import TargetPolicy
from app.workers.webhooks import deliver_once, new_http_client
from tests.graphql.outbound.receiver import Receiver
from tests.support import TEST_WEBHOOK_CIDRS, GraphQLClient, Tenant

CREATE = """mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
  endpoint { id url description eventTypes enabled createdAt updatedAt } secret
  errors { code field message } } }"""
DELIVERIES = """query($e: String, $s: WebhookDeliveryStatus, $t: String, $f: Int, $a: String) {
  webhookDeliveries(endpointId: $e, status: $s, eventType: $t, first: $f, after: $a) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id endpointId eventId eventType payload status attemptCount replayCount
      nextAttemptAt lastAttemptAt createdAt
      attempts { sequence number attemptedAt succeeded statusCode responseBody error
        durationMs } } } } }"""


LOOPBACK_ALLOWED = TargetPolicy.of(False, TEST_WEBHOOK_CIDRS)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def sender() -> AsyncIterator[httpx.AsyncClient]:
    async with new_http_client() as client:
        yield client


class Worker:
    """`deliver_once` for the test's own environment, on the test's clock."""

    def __init__(
        self, db: Database, clock: FrozenClock, http: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        self.db, self.clock, self.http, self.tenant = db, clock, http, tenant

    async def run(self, env: str = "development", **options: Any) -> int:
        options.setdefault("policy", LOOPBACK_ALLOWED)
        return await deliver_once(
            self.db,
            self.clock,
            self.http,
            environment_pk=self.tenant.environments[env],
            **options,
        )


@pytest.fixture
def worker(db: Database, clock: FrozenClock, sender: httpx.AsyncClient, tenant: Tenant) -> Worker:
    return Worker(db, clock, sender, tenant)


async def emit_committed(
    db: Database, env: uuid.UUID, event_type: str, data: dict[str, Any], now: datetime
) -> None:
    """Emit in a transaction of its own, committed."""
    async with db.transaction() as session:
        await emit(session, env, event_type, data, now)


async def create_endpoint(
    gql: GraphQLClient, url: str, event_types: list[str] | None = None, **fields: Any
) -> tuple[str, str]:
    """(endpoint id, secret) of a new endpoint; fails the test on errors."""
    payload = await gql.mutate(CREATE, {"i": {"url": url, "eventTypes": event_types, **fields}})
    assert payload["errors"] == [], payload
    return payload["endpoint"]["id"], payload["secret"]


async def deliveries(gql: GraphQLClient, **variables: Any) -> list[dict[str, Any]]:
    data = await gql.execute(DELIVERIES, variables)
    return [edge["node"] for edge in data["webhookDeliveries"]["edges"]]


def signature_valid(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """An independent Standard Webhooks check: HMAC-SHA256 of "{id}.{timestamp}.{body}" with
    the base64-decoded secret, base64-encoded, against each `v1,` signature of the header."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in headers["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False
