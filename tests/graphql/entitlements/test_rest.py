"""The REST check answers exactly what the GraphQL `entitlement` and `entitlements` queries
answer. The field list is read from the schema by introspection, so a field added to
`Entitlement` (or `EntitlementSource`) and missing from REST fails here."""

from __future__ import annotations

from typing import Any

import httpx
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.utils.str_converters import to_camel_case

from app.resolvers.root import build_schema
from tests.graphql.entitlements.catalog import apply_catalog, new_customer, provision
from tests.support import GraphQLClient, Tenant


def _resolved_by_code(type_name: str) -> set[str]:
    """The fields of `type_name` a resolver answers (`feature`: the nested catalog object, read
    it from the catalog), from strawberry's definitions: REST leaves those out, every plain
    field of the type is in both answers."""
    definition = build_schema().get_type_by_name(type_name)
    assert isinstance(definition, StrawberryObjectDefinition), type_name
    return {f.graphql_name or to_camel_case(f.python_name) for f in definition.fields
            if f.base_resolver is not None}


REST_OMITS = {name: _resolved_by_code(name) for name in ("Entitlement", "EntitlementSource")}

TYPE = """query($name: String!) { __type(name: $name) { fields {
  name type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }"""


def _named(type_: dict[str, Any]) -> dict[str, Any]:
    while type_.get("ofType"):
        type_ = type_["ofType"]
    return type_


async def selection(gql: GraphQLClient, type_name: str) -> str:
    """Every field of `type_name`, recursively, as a GraphQL selection set."""
    data = await gql.execute(TYPE, {"name": type_name})
    parts = []
    for field in data["__type"]["fields"]:
        if field["name"] in REST_OMITS.get(type_name, set()):
            continue
        named = _named(field["type"])
        if named["kind"] == "OBJECT":
            parts.append(f"{field['name']} {await selection(gql, named['name'])}")
        else:
            parts.append(field["name"])
    return "{ " + " ".join(parts) + " }"


async def test_selection_covers_every_source_field(gql: GraphQLClient) -> None:
    fields = await selection(gql, "Entitlement")
    assert "isSoftLimit" in fields.split("sources", 1)[1] and "feature " not in fields
    assert REST_OMITS == {"Entitlement": {"feature"}, "EntitlementSource": set()}


async def test_rest_equals_graphql(
    gql: GraphQLClient, http: httpx.AsyncClient, tenant: Tenant
) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    await provision(
        gql,
        customerId="acme",
        planId="pro",
        skipTrial=True,
        addons=[{"addonId": "extra-seats", "quantity": 2}],
    )
    await provision(gql, customerId="acme", planId="analytics-basic", resourceId="site-1")
    fields = await selection(gql, "Entitlement")
    one = (
        "query($c: String!, $f: String!, $n: Float, $r: String) { entitlement("
        "customerId: $c, featureId: $f, requestedUsage: $n, resourceId: $r) " + fields + " }"
    )
    every = (
        "query($c: String!, $r: String) { entitlements(customerId: $c, resourceId: $r) "
        + fields
        + " }"
    )
    headers = {"Authorization": f"Bearer {tenant.client_key}"}
    for customer, feature, requested, resource in (
        ("acme", "seats", 3, None),
        ("acme", "sso", None, None),
        ("acme", "api-calls", 1, None),
        ("acme", "regions", None, None),
        ("acme", "retention-days", None, "site-1"),
        ("acme", "seats", 1, "site-1"),
        ("nobody", "seats", None, None),
        ("acme", "nope", 2, None),
    ):
        data = await gql.execute(one, {"c": customer, "f": feature, "n": requested, "r": resource})
        params: dict[str, Any] = {}
        if requested is not None:
            params["requestedUsage"] = requested
        if resource is not None:
            params["resourceId"] = resource
        response = await http.get(
            f"/v1/customers/{customer}/entitlements/{feature}", params=params, headers=headers
        )
        assert response.status_code == 200
        assert response.json() == data["entitlement"], (customer, feature, resource)
    for resource in (None, "site-1"):
        data = await gql.execute(every, {"c": "acme", "r": resource})
        params = {"resourceId": resource} if resource else {}
        response = await http.get("/v1/customers/acme/entitlements", params=params, headers=headers)
        assert response.status_code == 200
        assert response.json() == {"entitlements": data["entitlements"]}, resource


async def test_rest_errors(http: httpx.AsyncClient, tenant: Tenant) -> None:
    headers = {"Authorization": f"Bearer {tenant.server_key}"}
    bad = await http.get("/v1/customers/a/entitlements/b?requestedUsage=lots", headers=headers)
    assert bad.status_code == 400 and bad.json()["errors"][0]["extensions"]["code"]
    nokey = await http.get("/v1/customers/a/entitlements/b")
    assert nokey.status_code == 401
