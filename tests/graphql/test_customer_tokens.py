"""Customer tokens: a server key mints a short-lived signed token for one customer; a client
key with it reads that customer only — on GraphQL (the fast path included), on REST; a
forged, expired or foreign token is UNAUTHENTICATED; an environment can require tokens."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.fernet import Fernet

from app import customer_tokens, secrets_at_rest
from app.auth import KeyKind, Principal, principal_with_token
from app.customer_tokens import TokenRefused
from tests.graphql.entitlements.catalog import apply_catalog, new_customer, provision
from tests.support import GraphQLClient, Tenant

MINT = """mutation($i: CreateCustomerTokenInput!) { createCustomerToken(input: $i) {
  token tokenId customerId expiresAt errors { code field } } }"""
CHECK = """query($c: String!) { entitlement(customerId: $c, featureId: "sso") {
  hasAccess denyReason } }"""
LIST = """query($c: String!) { entitlements(customerId: $c) { featureId hasAccess } }"""
SETTINGS = """mutation($i: UpdateEnvironmentSettingsInput!) { updateEnvironmentSettings(input: $i)
  { environment { requireCustomerTokens } errors { code } } }"""


@pytest.fixture
async def shop(gql: GraphQLClient) -> GraphQLClient:
    await apply_catalog(gql)
    for customer in ("alice", "bob"):
        await new_customer(gql, customer)
        payload = await provision(gql, customerId=customer, planId="pro", skipTrial=True)
        assert payload["errors"] == [], payload
    return gql


async def mint(gql: GraphQLClient, customer: str, ttl: int | None = None) -> dict[str, Any]:
    given: dict[str, Any] = {"customerId": customer}
    if ttl is not None:
        given["expiresInSeconds"] = ttl
    return await gql.mutate(MINT, {"i": given})  # type: ignore[no-any-return]


async def token_for(gql: GraphQLClient, customer: str) -> str:
    payload = await mint(gql, customer)
    assert payload["errors"] == [], payload
    return str(payload["token"])


def headers(key: str, token: str | None) -> dict[str, str]:
    out = {"Authorization": f"Bearer {key}"}
    if token is not None:
        out["X-Allot-Customer-Token"] = token
    return out


async def graphql(
    http: httpx.AsyncClient, key: str, token: str | None, query: str, customer: str
) -> httpx.Response:
    return await http.post(
        "/graphql", json={"query": query, "variables": {"c": customer}}, headers=headers(key, token)
    )


def code_of(response: httpx.Response) -> str | None:
    errors = response.json().get("errors")
    return errors[0]["extensions"]["code"] if errors else None


async def reads(http: httpx.AsyncClient, key: str, token: str | None, customer: str) -> set[Any]:
    """What each of the four reads answers for `customer`: 'ok' or the error code (REST:
    with its status)."""
    seen: set[Any] = set()
    for query in (CHECK, LIST):
        response = await graphql(http, key, token, query, customer)
        if response.status_code == 401:
            seen.add((401, code_of(response)))
            continue
        assert response.status_code == 200, response.text
        seen.add(code_of(response) or "ok")
    for path in (
        f"/v1/customers/{customer}/entitlements/sso",
        f"/v1/customers/{customer}/entitlements",
    ):
        response = await http.get(path, headers=headers(key, token))
        seen.add("ok" if response.status_code == 200 else (response.status_code, code_of(response)))
    return seen


# --- minting ---------------------------------------------------------------------------------


async def test_a_server_key_mints_a_token_for_a_customer(
    shop: GraphQLClient, tenant: Tenant
) -> None:
    payload = await mint(shop, "alice", 120)
    assert payload["errors"] == [] and payload["customerId"] == "alice"
    assert payload["tokenId"].startswith("ct_")
    claims = jwt.decode(payload["token"], options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["env"] == str(tenant.environments["development"])
    assert claims["exp"] - claims["iat"] == 120
    # The audit log names the token by id, never the token itself.
    log = await shop.execute(
        '{ auditLog(first: 5, operation: "createCustomerToken") { edges { node '
        "{ entityType entityId after } } } }"
    )
    (edge,) = log["auditLog"]["edges"]
    assert edge["node"]["entityType"] == "CUSTOMER_TOKEN"
    assert edge["node"]["entityId"] == payload["tokenId"]
    assert edge["node"]["after"]["customerId"] == "alice"
    assert payload["token"] not in str(log)


async def test_minting_refusals(shop: GraphQLClient, tenant: Tenant) -> None:
    unknown = await mint(shop, "nobody")
    assert [e["code"] for e in unknown["errors"]] == ["CUSTOMER_NOT_FOUND"]
    assert unknown["token"] is None
    production = shop.with_key(tenant.server_keys["production"])
    other = await mint(production, "alice")  # alice lives in development
    assert [e["code"] for e in other["errors"]] == ["CUSTOMER_NOT_FOUND"]
    for ttl in (59, 86_401, 0, -5):
        bad = await mint(shop, "alice", ttl)
        assert [(e["code"], e["field"]) for e in bad["errors"]] == [
            ("INVALID_INPUT", ["expiresInSeconds"])
        ], ttl
    for ttl in (60, 86_400):
        assert (await mint(shop, "alice", ttl))["errors"] == []
    client = await shop.with_key(tenant.client_key).post(MINT, {"i": {"customerId": "alice"}})
    assert code_of(client) == "FORBIDDEN"


# --- reading with a token --------------------------------------------------------------------


async def test_a_token_reads_its_customer_only(
    shop: GraphQLClient, http: httpx.AsyncClient, tenant: Tenant
) -> None:
    token = await token_for(shop, "alice")
    assert await reads(http, tenant.client_key, token, "alice") == {"ok"}
    assert await reads(http, tenant.client_key, token, "bob") == {"FORBIDDEN", (403, "FORBIDDEN")}
    # The same answer as the server key's (the fast path answers both).
    mine = await graphql(http, tenant.client_key, token, CHECK, "alice")
    server = await graphql(http, tenant.server_key, None, CHECK, "alice")
    assert mine.json() == server.json() and mine.json()["data"]["entitlement"]["hasAccess"]
    # Without a token a client key reads anyone, as before (no requirement set).
    assert await reads(http, tenant.client_key, None, "bob") == {"ok"}
    # Server keys are never narrowed.
    assert await reads(http, tenant.server_key, token, "bob") == {"ok"}


async def test_expired_forged_and_foreign_tokens_are_unauthenticated(
    shop: GraphQLClient, http: httpx.AsyncClient, tenant: Tenant
) -> None:
    keys = customer_tokens.signing_keys(secrets_at_rest.current().keys)
    env = tenant.environments["development"]
    expired, _ = customer_tokens.mint(keys, env, "alice", 60, time.time() - 3600, "ct_old")
    other_key = customer_tokens.signing_keys([Fernet.generate_key().decode()])
    forged, _ = customer_tokens.mint(other_key, env, "alice", 600, time.time(), "ct_forged")
    good = await token_for(shop, "alice")
    header, _, signature = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    tampered_body = jwt.encode({**claims, "sub": "bob"}, "x" * 32, algorithm="HS256").split(".")[1]
    none_alg = jwt.encode({**claims, "sub": "bob"}, None, algorithm="none")
    refused = {
        "expired": expired,
        "forged": forged,
        "tampered": f"{header}.{tampered_body}.{signature}",
        "alg none": none_alg,
        "garbage": "not-a-token",
        "empty": "",
    }
    for name, token in refused.items():
        for key in (tenant.client_key, tenant.server_key):
            seen = await reads(http, key, token, "alice")
            assert seen == {(401, "UNAUTHENTICATED")}, (name, seen)


async def test_a_token_of_another_environment_is_refused(
    gql: GraphQLClient, http: httpx.AsyncClient, tenant: Tenant
) -> None:
    production = gql.with_key(tenant.server_keys["production"])
    await new_customer(production, "carol")
    token = await token_for(production, "carol")
    response = await graphql(http, tenant.client_key, token, CHECK, "carol")
    assert response.status_code == 401 and code_of(response) == "UNAUTHENTICATED"
    assert "another environment" in response.json()["errors"][0]["message"]
    ok = await graphql(http, tenant.client_keys["production"], token, CHECK, "carol")
    assert ok.status_code == 200 and code_of(ok) is None


# --- the environment setting -----------------------------------------------------------------


async def test_an_environment_can_require_tokens(
    shop: GraphQLClient, http: httpx.AsyncClient, tenant: Tenant
) -> None:
    client = shop.with_key(tenant.client_key)
    assert (await client.execute("{ environment { requireCustomerTokens } }")) == {
        "environment": {"requireCustomerTokens": False}
    }
    refused = await client.post(SETTINGS, {"i": {"requireCustomerTokens": True}})
    assert code_of(refused) == "FORBIDDEN"
    payload = await shop.mutate(SETTINGS, {"i": {"requireCustomerTokens": True}})
    assert payload == {"environment": {"requireCustomerTokens": True}, "errors": []}
    assert await reads(http, tenant.client_key, None, "alice") == {"FORBIDDEN", (403, "FORBIDDEN")}
    token = await token_for(shop, "alice")
    assert await reads(http, tenant.client_key, token, "alice") == {"ok"}
    assert await reads(http, tenant.client_key, token, "bob") == {"FORBIDDEN", (403, "FORBIDDEN")}
    assert await reads(http, tenant.server_key, None, "bob") == {"ok"}
    # The catalog stays readable without a token (a pricing page needs no customer).
    assert (await client.execute("{ plans { totalCount } }"))["plans"]["totalCount"] > 0
    # The other environment is not affected.
    assert await reads(http, tenant.client_keys["production"], None, "alice") == {"ok"}
    # Given nothing, nothing changes; then turned off again.
    same = await shop.mutate(SETTINGS, {"i": {}})
    assert same["environment"] == {"requireCustomerTokens": True}
    await shop.mutate(SETTINGS, {"i": {"requireCustomerTokens": False}})
    assert await reads(http, tenant.client_key, None, "bob") == {"ok"}


# --- the principal ---------------------------------------------------------------------------


def _principal(kind: KeyKind, required: bool = False) -> Principal:
    return Principal(uuid.uuid4(), kind, uuid.uuid4(), "development", uuid.uuid4(), required)


def test_who_may_read_which_customer() -> None:
    keys = customer_tokens.signing_keys(secrets_at_rest.current().keys)
    for required in (False, True):
        server = _principal(KeyKind.SERVER, required)
        client = _principal(KeyKind.CLIENT, required)
        token, _ = customer_tokens.mint(
            keys, client.environment_pk, "alice", 600, time.time(), "ct_x"
        )
        narrowed = principal_with_token(client, token)
        assert isinstance(narrowed, Principal) and narrowed.customer_id == "alice"
        assert narrowed.may_read_customer("alice") and not narrowed.may_read_customer("bob")
        assert client.may_read_customer("bob") is (not required)
        assert server.may_read_customer("bob")
        assert principal_with_token(client, None) is client
        assert isinstance(principal_with_token(client, 42), TokenRefused)  # a WebSocket payload
        foreign = principal_with_token(server, token)  # another environment's principal
        assert isinstance(foreign, TokenRefused)
    # Expiry is checked on every use, cached verifications included.
    client = _principal(KeyKind.CLIENT)
    token, expires = customer_tokens.mint(keys, client.environment_pk, "a", 60, time.time(), "y")
    assert isinstance(principal_with_token(client, token), Principal)
    assert isinstance(principal_with_token(client, token, now=expires + 1), TokenRefused)
