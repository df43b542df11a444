"""Secret rotation on the wire, and paging through the delivery log."""

from __future__ import annotations

from datetime import timedelta

from app.clock import FrozenClock
from app.db import Database
from tests.graphql.outbound.conftest import Worker, create_endpoint, emit_committed, signature_valid
from tests.graphql.outbound.receiver import Receiver
from tests.support import GraphQLClient, Tenant


async def test_rotation_signs_with_both_secrets_during_the_grace(
    gql: GraphQLClient,
    tenant: Tenant,
    db: Database,
    worker: Worker,
    receiver: Receiver,
    clock: FrozenClock,
) -> None:
    rotate = """mutation($i: RotateWebhookSecretInput!) { rotateWebhookSecret(input: $i) {
      secret errors { code } } }"""
    endpoint_id, old = await create_endpoint(gql, receiver.url)
    new = (await gql.mutate(rotate, {"i": {"endpointId": endpoint_id}}))["secret"]
    env = tenant.environments["development"]
    await emit_committed(db, env, "invoice.paid", {}, clock.now())
    await worker.run()
    request = receiver.requests[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert signature_valid(new, request.headers, request.body)
    assert signature_valid(old, request.headers, request.body)

    newest = await gql.mutate(rotate, {"i": {"endpointId": endpoint_id, "graceHours": 0}})
    await emit_committed(db, env, "invoice.paid", {}, clock.now())
    await worker.run()
    request = receiver.requests[-1]
    assert signature_valid(newest["secret"], request.headers, request.body)
    assert not signature_valid(new, request.headers, request.body)


async def test_delivery_log_pages(
    gql: GraphQLClient,
    tenant: Tenant,
    db: Database,
    worker: Worker,
    receiver: Receiver,
    clock: FrozenClock,
) -> None:
    await create_endpoint(gql, receiver.url)
    env = tenant.environments["development"]
    for n in range(5):
        await emit_committed(db, env, "invoice.paid", {"n": n}, clock.now())
        clock.advance(timedelta(seconds=1))
    seen: list[int] = []
    after = None
    while True:
        data = await gql.execute(
            """query($a: String) { webhookDeliveries(first: 2, after: $a) { totalCount
            pageInfo { hasNextPage endCursor } edges { node { payload } } } }""",
            {"a": after},
        )
        page = data["webhookDeliveries"]
        assert page["totalCount"] == 5
        seen += [e["node"]["payload"]["data"]["n"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [4, 3, 2, 1, 0]  # newest first
