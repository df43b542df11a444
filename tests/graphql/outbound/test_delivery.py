"""Delivery to a real local receiver: signatures checked by an independent HMAC, retries with
backoff on an injected clock, timeouts, the outbox's atomicity, replay, filtering, isolation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from app.clock import FrozenClock
from app.db import Database
from app.domain.outbound.outbox import emit
from tests.graphql.outbound.conftest import (
    Worker,
    create_endpoint,
    deliveries,
    emit_committed,
    signature_valid,
)
from tests.graphql.outbound.receiver import HANG, Receiver
from tests.support import GraphQLClient, Tenant

REPLAY = """mutation($i: ReplayWebhookDeliveryInput!) { replayWebhookDelivery(input: $i) {
  delivery { id status attemptCount replayCount nextAttemptAt } errors { code field } } }"""
UPDATE = """mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) {
  errors { code } } }"""


async def test_delivers_a_signed_event(
    gql: GraphQLClient,
    tenant: Tenant,
    db: Database,
    worker: Worker,
    receiver: Receiver,
    clock: FrozenClock,
) -> None:
    endpoint_id, secret = await create_endpoint(gql, receiver.url)
    data = {
        "invoiceId": "inv-1",
        "total": Decimal("49.00"),
        "dueDate": clock.now(),
        "customer": {"id": "acme"},
    }
    await emit_committed(db, tenant.environments["development"], "invoice.paid", data, clock.now())
    assert await worker.run() == 1

    (request,) = receiver.requests
    assert request.path == "/hooks"
    headers = request.headers
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"].startswith("evt_")
    assert headers["webhook-timestamp"] == str(int(clock.now().timestamp()))
    assert signature_valid(secret, headers, request.body)
    assert not signature_valid(secret, headers, request.body + b" ")
    assert not signature_valid("whsec_" + "A" * 44, headers, request.body)
    body = orjson.loads(request.body)
    stamp = clock.now().isoformat().replace("+00:00", "Z")
    assert body == {
        "type": "invoice.paid",
        "timestamp": stamp,
        "data": {
            "invoiceId": "inv-1",
            "total": "49.00",
            "dueDate": stamp,
            "customer": {"id": "acme"},
        },
    }

    (delivery,) = await deliveries(gql, e=endpoint_id)
    assert delivery["status"] == "SUCCEEDED" and delivery["attemptCount"] == 1
    assert delivery["eventId"] == headers["webhook-id"] and delivery["payload"] == body
    assert delivery["nextAttemptAt"] is None
    (attempt,) = delivery["attempts"]
    assert attempt["succeeded"] and attempt["statusCode"] == 200
    assert attempt["responseBody"] == "ok" and attempt["error"] is None
    assert attempt["durationMs"] >= 0 and attempt["number"] == 1 and attempt["sequence"] == 0
    assert await worker.run() == 0  # nothing left


async def test_a_500_is_retried_with_backoff(
    gql: GraphQLClient,
    tenant: Tenant,
    db: Database,
    worker: Worker,
    receiver: Receiver,
    clock: FrozenClock,
) -> None:
    endpoint_id, secret = await create_endpoint(gql, receiver.url)
    receiver.script((500, "boom " * 1000))
    start = clock.now()
    await emit_committed(
        db,
        tenant.environments["development"],
        "subscription.created",
        {"subscriptionId": "s1"},
        start,
    )
    assert await worker.run() == 1
    (delivery,) = await deliveries(gql, e=endpoint_id)
    assert delivery["status"] == "PENDING" and delivery["attemptCount"] == 1
    (failed,) = delivery["attempts"]
    assert failed["statusCode"] == 500 and not failed["succeeded"]
    assert failed["error"] == "receiver answered HTTP 500"
    assert failed["responseBody"].startswith("boom")
    assert len(failed["responseBody"].encode()) <= 2048
    due = datetime.fromisoformat(delivery["nextAttemptAt"])
    assert start + timedelta(seconds=4) <= due <= start + timedelta(seconds=6)

    clock.advance(timedelta(seconds=3))
    assert await worker.run() == 0  # not due yet
    clock.advance(timedelta(seconds=4))
    assert await worker.run() == 1
    (delivery,) = await deliveries(gql, e=endpoint_id)
    assert delivery["status"] == "SUCCEEDED" and delivery["attemptCount"] == 2
    assert [(a["number"], a["statusCode"], a["succeeded"]) for a in delivery["attempts"]] == [
        (1, 500, False),
        (2, 200, True),
    ]
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    assert all(signature_valid(secret, r.headers, r.body) for r in receiver.requests)


async def test_attempts_run_out_then_failed(
    gql: GraphQLClient,
    tenant: Tenant,
    db: Database,
    worker: Worker,
    receiver: Receiver,
    clock: FrozenClock,
) -> None:
    endpoint_id, _ = await create_endpoint(gql, receiver.url)
    receiver.default = (503, "down")
    await emit_committed(db, tenant.environments["development"], "trial.expired", {}, clock.now())
    gaps = []
    for _ in range(4):
        assert await worker.run(max_attempts=4) == 1
        (delivery,) = await deliveries(gql, e=endpoint_id)
        if delivery["status"] != "PENDING":
            break
        due = datetime.fromisoformat(delivery["nextAttemptAt"])
        gaps.append((due - clock.now()).total_seconds())
        clock.set(due)
    assert delivery["status"] == "FAILED" and delivery["attemptCount"] == 4
    assert delivery["nextAttemptAt"] is None
    # 5 s, 30 s, 2 min, each ±20 % jitter.
    assert [round(g / nominal, 1) for g, nominal in zip(gaps, (5, 30, 120), strict=True)] == [
        pytest.approx(1, abs=0.21)
    ] * 3
    clock.advance(timedelta(days=2))
    assert await worker.run(max_attempts=4) == 0
    failed = await deliveries(gql, s="FAILED")
    assert [d["id"] for d in failed] == [delivery["id"]]
    assert await deliveries(gql, s="SUCCEEDED") == []


async def test_a_timeout_is_recorded_and_retried(
    gql: GraphQLClient,
    tenant: Tenant,
    db: Database,
    worker: Worker,
    receiver: Receiver,
    clock: FrozenClock,
) -> None:
    endpoint_id, _ = await create_endpoint(gql, receiver.url)
    receiver.script(HANG)
    await emit_committed(
        db,
        tenant.environments["development"],
        "usage.threshold_crossed",
        {"featureId": "seats", "threshold": 80},
        clock.now(),
    )
    assert await worker.run(request_timeout=0.5) == 1
    (delivery,) = await deliveries(gql, e=endpoint_id)
    (attempt,) = delivery["attempts"]
    assert delivery["status"] == "PENDING"
    assert attempt["statusCode"] is None and attempt["error"] == "timed out after 0.5 s"
    assert 400 <= attempt["durationMs"] < 5000
    receiver.release.set()
    clock.advance(timedelta(seconds=10))
    assert await worker.run(request_timeout=0.5) == 1
    (delivery,) = await deliveries(gql, e=endpoint_id)
    assert delivery["status"] == "SUCCEEDED" and len(delivery["attempts"]) == 2


async def test_a_refused_connection_is_recorded(
    gql: GraphQLClient, tenant: Tenant, db: Database, worker: Worker, clock: FrozenClock
) -> None:
    endpoint_id, _ = await create_endpoint(gql, "http://127.0.0.1:9/nobody-listens")
    await emit_committed(db, tenant.environments["development"], "trial.started", {}, clock.now())
    assert await worker.run() == 1
    (delivery,) = await deliveries(gql, e=endpoint_id)
    (attempt,) = delivery["attempts"]
    assert delivery["status"] == "PENDING" and attempt["statusCode"] is None
    assert attempt["error"].startswith("ConnectError")


async def test_a_rolled_back_change_sends_nothing(
    gql: GraphQLClient,
    tenant: Tenant,
    db: Database,
    worker: Worker,
    receiver: Receiver,
    clock: FrozenClock,
) -> None:
    await create_endpoint(gql, receiver.url)
    env = tenant.environments["development"]
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await emit(session, env, "subscription.canceled", {"subscriptionId": "s1"}, clock.now())
            raise RuntimeError("the change failed after emitting")
    async with db.session() as session, session.begin():
        await emit(session, env, "subscription.canceled", {"subscriptionId": "s2"}, clock.now())
        await session.rollback()
    assert await worker.run() == 0
    assert receiver.requests == [] and await deliveries(gql) == []

    await emit_committed(db, env, "subscription.canceled", {"subscriptionId": "s3"}, clock.now())
    assert await worker.run() == 1
    (request,) = receiver.requests
    assert orjson.loads(request.body)["data"] == {"subscriptionId": "s3"}


async def test_emit_refuses_unknown_types(db: Database, tenant: Tenant) -> None:
    async with db.transaction() as session:
        with pytest.raises(ValueError, match="unknown webhook event type"):
            await emit(
                session, tenant.environments["development"], "invoice.lost", {}, datetime.now(UTC)
            )


async def test_replay_sends_again_as_a_new_sequence(
    gql: GraphQLClient,
    tenant: Tenant,
    db: Database,
    worker: Worker,
    receiver: Receiver,
    clock: FrozenClock,
) -> None:
    endpoint_id, secret = await create_endpoint(gql, receiver.url)
    await emit_committed(
        db, tenant.environments["development"], "invoice.created", {"id": "i1"}, clock.now()
    )
    await worker.run()
    (delivery,) = await deliveries(gql, e=endpoint_id)
    clock.advance(timedelta(minutes=1))
    replayed = await gql.mutate(REPLAY, {"i": {"deliveryId": delivery["id"]}})
    assert replayed["errors"] == []
    assert replayed["delivery"]["status"] == "PENDING"
    assert (replayed["delivery"]["attemptCount"], replayed["delivery"]["replayCount"]) == (0, 1)
    assert await worker.run() == 1
    (delivery,) = await deliveries(gql, e=endpoint_id)
    assert delivery["status"] == "SUCCEEDED"
    assert [(a["sequence"], a["number"]) for a in delivery["attempts"]] == [(0, 1), (1, 1)]
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body and signature_valid(secret, second.headers, second.body)

    missing = await gql.mutate(REPLAY, {"i": {"deliveryId": str(uuid.uuid4())}})
    assert missing["errors"] == [{"code": "NOT_FOUND", "field": ["deliveryId"]}]
    await gql.mutate(UPDATE, {"i": {"endpointId": endpoint_id, "enabled": False}})
    disabled = await gql.mutate(REPLAY, {"i": {"deliveryId": delivery["id"]}})
    assert disabled["errors"] == [{"code": "INVALID_INPUT", "field": ["deliveryId"]}]


async def test_endpoints_receive_only_their_event_types(
    gql: GraphQLClient,
    tenant: Tenant,
    db: Database,
    worker: Worker,
    clock: FrozenClock,
) -> None:
    receivers = [Receiver() for _ in range(3)]
    for r in receivers:
        r.start()
    try:
        invoices, everything, off = receivers
        await create_endpoint(gql, invoices.url, ["invoice.paid", "invoice.overdue"])
        await create_endpoint(gql, everything.url)
        off_id, _ = await create_endpoint(gql, off.url, enabled=False)
        env = tenant.environments["development"]
        for event_type in ("invoice.paid", "subscription.created", "entitlements.changed"):
            await emit_committed(db, env, event_type, {}, clock.now())
        assert await worker.run() == 4

        def types(r: Receiver) -> list[str]:
            return sorted(orjson.loads(q.body)["type"] for q in r.requests)

        assert types(invoices) == ["invoice.paid"]
        assert types(everything) == ["entitlements.changed", "invoice.paid", "subscription.created"]
        assert off.requests == []
        assert len(await deliveries(gql, t="invoice.paid")) == 2

        # A disabled endpoint's pending deliveries wait until it is enabled again.
        await gql.mutate(UPDATE, {"i": {"endpointId": off_id, "enabled": True}})
        await emit_committed(db, env, "trial.converted", {}, clock.now())
        await gql.mutate(UPDATE, {"i": {"endpointId": off_id, "enabled": False}})
        assert await worker.run() == 1  # `everything` only
        await gql.mutate(UPDATE, {"i": {"endpointId": off_id, "enabled": True}})
        assert await worker.run() == 1
        assert types(off) == ["trial.converted"]
    finally:
        for r in receivers:
            r.stop()


async def test_environments_are_isolated(
    gql: GraphQLClient,
    tenant: Tenant,
    db: Database,
    worker: Worker,
    receiver: Receiver,
    clock: FrozenClock,
) -> None:
    endpoint_id, _ = await create_endpoint(gql, receiver.url)
    production = gql.with_key(tenant.server_keys["production"])
    await emit_committed(db, tenant.environments["production"], "invoice.paid", {}, clock.now())
    assert await worker.run("production") == 0 and receiver.requests == []
    await emit_committed(db, tenant.environments["development"], "invoice.paid", {}, clock.now())
    assert await worker.run() == 1
    (delivery,) = await deliveries(gql)

    listed = await production.execute("{ webhookEndpoints { totalCount } }")
    assert listed["webhookEndpoints"]["totalCount"] == 0
    assert await deliveries(production) == []
    one = await production.execute(
        "query($id: String!) { webhookDelivery(id: $id) { id } }", {"id": delivery["id"]}
    )
    assert one["webhookDelivery"] is None
    for query, variables in [
        (UPDATE, {"i": {"endpointId": endpoint_id, "enabled": False}}),
        (REPLAY, {"i": {"deliveryId": delivery["id"]}}),
    ]:
        payload = await production.mutate(query, variables)
        assert payload["errors"][0]["code"] == "NOT_FOUND"
    assert len(await deliveries(gql)) == 1
