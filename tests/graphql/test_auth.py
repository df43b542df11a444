"""Authentication (401), API key lifecycle, and what client (publishable) keys may not do.

The FORBIDDEN checks walk the schema: every mutation, and every query root not on the client
allow-list, is called with a client key, so a new operation is covered the day it is added.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLType,
    get_named_type,
    is_leaf_type,
    is_required_argument,
    is_required_input_field,
)

from app.resolvers.root import build_schema
from tests.support import GraphQLClient, Tenant

# Query roots a client (publishable) key may call; everything else needs a server key.
CLIENT_QUERY_ROOTS = frozenset(
    {
        "environment",
        "feature",
        "features",
        "product",
        "products",
        "plan",
        "plans",
        "addon",
        "addons",
        "entitlement",
        "entitlements",
        "entitlementsState",
    }
)

DUMMY = "dummy"  # every String argument: also the id of the catalog entities made below

# JSON values for the custom scalars of the schema, as variables. A new scalar must be added.
SCALAR_VALUES: dict[str, Any] = {
    "String": DUMMY,
    "Int": 1,
    "Float": 1.0,
    "Boolean": False,
    "DateTime": "2030-01-01T00:00:00+00:00",
    "Date": "2030-01-01",
    "Decimal": "1.00",
    "JSON": {},
}


def _schema() -> GraphQLSchema:
    return build_schema()._schema


def _value(type_: GraphQLType, id_value: str) -> Any:
    """A JSON value that passes GraphQL validation for `type_`: required fields only."""
    if isinstance(type_, GraphQLNonNull):
        return _value(type_.of_type, id_value)
    if isinstance(type_, GraphQLList):
        return [_value(type_.of_type, id_value)]
    if isinstance(type_, GraphQLInputObjectType):
        return {
            name: _value(field.type, id_value)
            for name, field in type_.fields.items()
            if is_required_input_field(field)
        }
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    assert isinstance(type_, GraphQLScalarType), type_
    if type_.name == "ID":
        return id_value
    assert type_.name in SCALAR_VALUES, f"add a dummy value for the scalar {type_.name}"
    return SCALAR_VALUES[type_.name]


def operation_for(
    kind: str, name: str, field: GraphQLField, id_value: str
) -> tuple[str, dict[str, Any]]:
    """A valid operation calling root field `name` with dummy required arguments."""
    required: dict[str, GraphQLArgument] = {
        arg_name: arg for arg_name, arg in field.args.items() if is_required_argument(arg)
    }
    declarations = ", ".join(f"${a}: {arg.type}" for a, arg in required.items())
    arguments = ", ".join(f"{a}: ${a}" for a in required)
    selection = "" if is_leaf_type(get_named_type(field.type)) else " { __typename }"
    header = f"{kind} Probe({declarations})" if declarations else f"{kind} Probe"
    call = f"{name}({arguments})" if arguments else name
    query = f"{header} {{ {call}{selection} }}"
    return query, {a: _value(arg.type, id_value) for a, arg in required.items()}


def _selection(type_: GraphQLType, depth: int) -> str | None:
    """Every argument-free field of an object type, nested `depth` levels: a snapshot."""
    named = get_named_type(type_)
    if is_leaf_type(named):
        return ""
    if depth == 0 or not isinstance(named, GraphQLObjectType):
        return None
    parts = []
    for field_name, field in named.fields.items():
        if any(is_required_argument(a) for a in field.args.values()):
            continue
        inner = _selection(field.type, depth - 1)
        if inner is not None:
            parts.append(field_name + (f" {{ {inner} }}" if inner else ""))
    return " ".join(parts) if parts else None


# Roots only admin users (console sessions) may read: a server key is refused them.
ADMIN_USER_ROOTS = {"users"}


async def snapshot(gql: GraphQLClient) -> dict[str, Any]:
    """Everything every argument-free query root shows the server key, deeply."""
    query_type = _schema().query_type
    assert query_type is not None
    seen: dict[str, Any] = {}
    for name, field in query_type.fields.items():
        if any(is_required_argument(a) for a in field.args.values()):
            continue
        if name in ADMIN_USER_ROOTS:  # no key reads them (tests/web/test_console_sessions.py)
            continue
        with_archived = "(includeArchived: true)" if "includeArchived" in field.args else ""
        inner = _selection(field.type, 5)
        selection = f" {{ {inner} }}" if inner else ""
        data = await gql.execute(f"{{ {name}{with_archived}{selection} }}")
        seen[name] = data[name]
    return seen


def _assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert "data" not in body or body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["message"]
    assert response.headers["content-type"].startswith("application/json")


async def _post(
    http: httpx.AsyncClient, headers: dict[str, str], query: str = "{ environment { slug } }"
) -> httpx.Response:
    return await http.post("/graphql", json={"query": query}, headers=headers)


# --- 401 -----------------------------------------------------------------------------------


async def test_no_key_is_401(http: httpx.AsyncClient) -> None:
    _assert_401(await _post(http, {}))


async def test_unknown_key_is_401(http: httpx.AsyncClient) -> None:
    unknown = "allot_sk_" + secrets.token_urlsafe(32)
    _assert_401(await _post(http, {"Authorization": f"Bearer {unknown}"}))
    _assert_401(await _post(http, {"X-API-Key": unknown}))


@pytest.mark.parametrize(
    "header",
    [
        "Basic {key}",
        "Bearer",
        "Bearer ",
        "{key}",
        "Token {key}",
        "Bearer{key}",
        "Bearer x{key}",
        "Bearer {long}",
    ],
)
async def test_malformed_authorization_is_401(
    http: httpx.AsyncClient, tenant: Tenant, header: str
) -> None:
    value = header.format(key=tenant.server_key, long="a" * 5000)
    _assert_401(await _post(http, {"Authorization": value}))


async def test_empty_x_api_key_is_401(http: httpx.AsyncClient) -> None:
    _assert_401(await _post(http, {"X-API-Key": ""}))


async def test_401_comes_before_reading_the_body(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", content=b"{not json", headers={})
    _assert_401(response)


@pytest.mark.parametrize("style", ["bearer", "lowercase-bearer", "x-api-key"])
async def test_both_header_styles_work(http: httpx.AsyncClient, tenant: Tenant, style: str) -> None:
    key = tenant.server_keys["production"]
    headers = {
        "bearer": {"Authorization": f"Bearer {key}"},
        "lowercase-bearer": {"Authorization": f"bearer {key}"},
        "x-api-key": {"X-API-Key": key},
    }[style]
    response = await _post(http, headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"environment": {"slug": "production"}}}


# --- key lifecycle -------------------------------------------------------------------------

CREATE_KEY = """
mutation ($kind: ApiKeyKind!, $name: String!) {
  createApiKey(input: {kind: $kind, name: $name}) {
    secret
    apiKey { id kind name prefix createdAt revokedAt }
    errors { code message field }
  }
}
"""

REVOKE_KEY = """
mutation ($id: ID!) {
  revokeApiKey(input: {id: $id}) {
    apiKey { id revokedAt }
    errors { code message field }
  }
}
"""

LIST_KEYS = "{ apiKeys { id kind name prefix createdAt revokedAt } }"


async def test_create_key_shows_the_secret_once(gql: GraphQLClient) -> None:
    payload = await gql.mutate(CREATE_KEY, {"kind": "CLIENT", "name": "web"})
    assert payload["errors"] == []
    secret = payload["secret"]
    key = payload["apiKey"]
    assert secret.startswith("allot_pk_") and len(secret) > 40
    assert key["kind"] == "CLIENT" and key["name"] == "web" and key["revokedAt"] is None
    assert secret.startswith(key["prefix"]) and len(key["prefix"]) < len(secret) // 2

    # The new key works, in the same environment.
    data = await gql.with_key(secret).execute("{ environment { slug } }")
    assert data == {"environment": {"slug": "development"}}

    listing = await gql.post(LIST_KEYS)
    assert listing.status_code == 200
    assert secret not in listing.text
    keys = listing.json()["data"]["apiKeys"]
    (listed,) = [k for k in keys if k["id"] == key["id"]]
    assert listed == key


def test_api_key_type_has_no_secret_field() -> None:
    api_key = _schema().get_type("ApiKey")
    assert isinstance(api_key, GraphQLObjectType)
    leaking = {"secret", "key", "keyHash", "hash", "value"} & set(api_key.fields)
    assert not leaking, leaking


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
async def test_revoked_key_is_401_at_once(
    http: httpx.AsyncClient, gql: GraphQLClient, header: str
) -> None:
    created = await gql.mutate(CREATE_KEY, {"kind": "SERVER", "name": "doomed"})
    secret = created["secret"]
    headers = {header: f"Bearer {secret}" if header == "Authorization" else secret}
    # Used once first, so it sits in the per-process auth cache.
    assert (await _post(http, headers)).status_code == 200

    revoked = await gql.mutate(REVOKE_KEY, {"id": created["apiKey"]["id"]})
    assert revoked["errors"] == []
    assert revoked["apiKey"]["id"] == created["apiKey"]["id"]
    assert revoked["apiKey"]["revokedAt"] is not None

    _assert_401(await _post(http, headers))
    again = await gql.mutate(REVOKE_KEY, {"id": created["apiKey"]["id"]})
    assert [e["code"] for e in again["errors"]] == ["API_KEY_NOT_FOUND"]
    assert again["apiKey"] is None


async def test_a_key_can_revoke_itself(http: httpx.AsyncClient, gql: GraphQLClient) -> None:
    created = await gql.mutate(CREATE_KEY, {"kind": "SERVER", "name": "self"})
    own = gql.with_key(created["secret"])
    payload = await own.mutate(REVOKE_KEY, {"id": created["apiKey"]["id"]})
    assert payload["errors"] == []
    _assert_401(await own.post("{ environment { slug } }"))


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", ""])
async def test_revoking_an_unknown_key_is_a_user_error(gql: GraphQLClient, bad_id: str) -> None:
    payload = await gql.mutate(REVOKE_KEY, {"id": bad_id})
    assert payload["apiKey"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("API_KEY_NOT_FOUND", ["id"])]


# --- client keys -----------------------------------------------------------------------------


async def _make_catalog(gql: GraphQLClient) -> None:
    """One feature, product, plan and add-on, all with the id DUMMY: a forbidden update,
    archive or publish would show in the snapshot."""
    for mutation in (
        f'createFeature(input: {{id: "{DUMMY}", type: METERED, unit: "seat"}})',
        f'createProduct(input: {{id: "{DUMMY}"}})',
        f'createPlan(input: {{id: "{DUMMY}", productId: "{DUMMY}", pricingType: FREE}})',
        f'createAddon(input: {{id: "{DUMMY}", productId: "{DUMMY}"}})',
    ):
        payload = await gql.mutate(f"mutation {{ {mutation} {{ errors {{ code message }} }} }}")
        assert payload["errors"] == [], (mutation, payload)


def _assert_forbidden(response: httpx.Response, name: str) -> None:
    assert response.status_code == 200, (name, response.text)
    body = response.json()
    errors = body.get("errors") or []
    assert [e["extensions"]["code"] for e in errors] == ["FORBIDDEN"], (name, body)
    assert errors[0]["path"] == [name], (name, body)
    assert body["data"] is None or body["data"].get(name) is None, (name, body)


async def test_client_key_is_forbidden_on_every_mutation(
    gql: GraphQLClient, tenant: Tenant
) -> None:
    await _make_catalog(gql)
    keys = (await gql.execute(LIST_KEYS))["apiKeys"]
    # IDs point at the server key itself: a revoke that slipped through would show.
    (server_key_id,) = [k["id"] for k in keys if k["kind"] == "SERVER"]
    before = await snapshot(gql)

    mutation_type = _schema().mutation_type
    assert mutation_type is not None and mutation_type.fields
    client = gql.with_key(tenant.client_key)
    for name, field in mutation_type.fields.items():
        query, variables = operation_for("mutation", name, field, server_key_id)
        _assert_forbidden(await client.post(query, variables), name)

    assert await snapshot(gql) == before


async def test_client_key_is_forbidden_on_server_only_queries(
    gql: GraphQLClient, tenant: Tenant
) -> None:
    query_type = _schema().query_type
    assert query_type is not None
    server_only = {n: f for n, f in query_type.fields.items() if n not in CLIENT_QUERY_ROOTS}
    assert "apiKeys" in server_only
    client = gql.with_key(tenant.client_key)
    for name, field in server_only.items():
        query, variables = operation_for("query", name, field, DUMMY)
        _assert_forbidden(await client.post(query, variables), name)


async def test_client_key_may_read_what_it_is_allowed(gql: GraphQLClient, tenant: Tenant) -> None:
    await _make_catalog(gql)
    query_type = _schema().query_type
    assert query_type is not None
    allowed = {n: f for n, f in query_type.fields.items() if n in CLIENT_QUERY_ROOTS}
    assert {"environment", "features", "feature", "plans", "plan"} <= set(allowed)
    client = gql.with_key(tenant.client_key)
    for name, field in allowed.items():
        query, variables = operation_for("query", name, field, DUMMY)
        response = await client.post(query, variables)
        assert response.status_code == 200, (name, response.text)
        codes = [e.get("extensions", {}).get("code") for e in response.json().get("errors", [])]
        assert "FORBIDDEN" not in codes, (name, response.text)
    data = await client.execute(f'{{ feature(id: "{DUMMY}") {{ id }} features {{ totalCount }} }}')
    assert data == {"feature": {"id": DUMMY}, "features": {"totalCount": 1}}
