"""A retried closed deal (same idempotency key) yields exactly one customer and one
subscription and answers as the first call did."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.graphql.entitlements.catalog import (
    PROVISION,
    PROVISION_CUSTOMER,
    apply_catalog,
    new_customer,
)
from tests.support import GraphQLClient

DEAL: dict[str, Any] = {
    "customerId": "globex", "name": "Globex", "idempotencyKey": "opp-0061",
    "subscription": {"planId": "enterprise", "billing": {"mode": "INVOICE",
                                                           "paymentTermsDays": 30},
                     "entitlements": [{"featureId": "seats", "limit": 250}]},
}
COUNT = "{ customers { totalCount } customer(id: \"globex\") { subscriptions { id } } }"


async def test_retried_provision_customer_is_counted_once(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    first = await gql.mutate(PROVISION_CUSTOMER, {"input": DEAL})
    assert first["errors"] == [], first
    results = await asyncio.gather(*(gql.mutate(PROVISION_CUSTOMER, {"input": DEAL})
                                     for _ in range(5)))
    for again in results:
        assert again == first
    data = await gql.execute(COUNT)
    assert data["customers"]["totalCount"] == 1
    subs = data["customer"]["subscriptions"]
    assert [s["id"] for s in subs] == [first["subscription"]["id"]]


async def test_same_key_other_payload_is_rejected(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    assert (await gql.mutate(PROVISION_CUSTOMER, {"input": DEAL}))["errors"] == []
    other = {**DEAL, "name": "Globex Corp"}
    payload = await gql.mutate(PROVISION_CUSTOMER, {"input": other})
    assert payload["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert payload["customer"] is None


async def test_retried_provision_subscription(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "initech")
    fields = {"customerId": "initech", "planId": "analytics-basic", "resourceId": "ws-1",
              "idempotencyKey": "opp-77"}
    first = await gql.mutate(PROVISION, {"input": fields})
    assert first["errors"] == [], first
    concurrent = await asyncio.gather(*(gql.mutate(PROVISION, {"input": fields})
                                        for _ in range(4)))
    assert all(c["subscription"]["id"] == first["subscription"]["id"] for c in concurrent)
    data = await gql.execute('{ customer(id: "initech") { subscriptions { planId } } }')
    plans = [s["planId"] for s in data["customer"]["subscriptions"]]
    assert plans.count("analytics-basic") == 1
