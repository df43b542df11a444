"""The REST check answers exactly what the GraphQL `entitlement` query answers."""

from __future__ import annotations

import httpx

from tests.engine.catalog import ENTITLEMENT, apply_catalog, new_customer, provision
from tests.support import GraphQLClient, Tenant

FIELDS = ENTITLEMENT  # every Entitlement field but `feature`


async def test_rest_equals_graphql(gql: GraphQLClient, http: httpx.AsyncClient,
                                   tenant: Tenant) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    await provision(gql, customerId="acme", planId="pro", skipTrial=True,
                    addons=[{"addonId": "extra-seats", "quantity": 2}])
    headers = {"Authorization": f"Bearer {tenant.client_key}"}
    for customer, feature, requested in (("acme", "seats", 3), ("acme", "sso", None),
                                         ("acme", "api-calls", 1), ("acme", "regions", None),
                                         ("nobody", "seats", None), ("acme", "nope", 2)):
        data = await gql.execute(FIELDS, {"c": customer, "f": feature, "n": requested})
        query = f"?requestedUsage={requested}" if requested is not None else ""
        response = await http.get(f"/v1/customers/{customer}/entitlements/{feature}{query}",
                                  headers=headers)
        assert response.status_code == 200
        assert response.json() == data["entitlement"], (customer, feature)


async def test_rest_errors(http: httpx.AsyncClient, tenant: Tenant) -> None:
    headers = {"Authorization": f"Bearer {tenant.server_key}"}
    bad = await http.get("/v1/customers/a/entitlements/b?requestedUsage=lots", headers=headers)
    assert bad.status_code == 400 and bad.json()["errors"][0]["extensions"]["code"]
    nokey = await http.get("/v1/customers/a/entitlements/b")
    assert nokey.status_code == 401
