"""Rate limits over real HTTP (issue 9 item 1): a token bucket per API key, by key kind, on
/graphql and the REST routes, and per client address for failed authentications.

The app runs with tiny limits over the test database and a monotonic clock the tests move by
hand, so refills are exact and nothing sleeps. Tenants' data is set up through the ordinary
test app (`gql`), whose limits are the defaults: only what a test sends through `limited`
counts against the tiny ones."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.db import Database
from app.main import create_app
from app.settings import Settings
from tests.graphql.usage.helpers import REPORT, setup, total
from tests.support import GraphQLClient, Tenant, Ticks

LIMITED = Settings(
    rate_limit_server=1.0,
    rate_limit_server_burst=5,
    rate_limit_client=0.5,
    rate_limit_client_burst=3,
    rate_limit_auth_failures=1.0,
    rate_limit_auth_failures_burst=2,
)
QUERY = "{ environment { slug } }"  # any key may ask it


@pytest.fixture(scope="module")
async def limited_app(database_url: str, ticks: Ticks) -> AsyncIterator[Starlette]:
    application = create_app(database_url, LIMITED, ticks=ticks)
    async with application.router.lifespan_context(application):
        yield application


def _client(app: Starlette, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40_000))
    return httpx.AsyncClient(transport=transport, base_url="http://allot.test")


@pytest.fixture(scope="module")
async def limited_http(limited_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(limited_app) as client:
        yield client


@pytest.fixture
def limited(limited_http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(limited_http, None)


def assert_rate_limited(response: httpx.Response, retry_after: int) -> dict[str, Any]:
    """The 429 of an empty bucket, shaped like every other HTTP error of the API."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["retry-after"] == str(retry_after)
    body = response.json()
    assert set(body) == {"errors"}, body
    (error,) = body["errors"]
    assert error["extensions"] == {
        "code": "RATE_LIMITED",
        "retryAfter": retry_after,
        "requestId": response.headers["x-request-id"],
    }
    assert "rate limit" in error["message"].lower(), error
    return error  # type: ignore[no-any-return]


def report(customer: str, value: float = 1) -> dict[str, Any]:
    item = {"customerId": customer, "featureId": "storage", "value": value}
    return {"query": REPORT, "variables": {"i": item}}


async def post(http: httpx.AsyncClient, key: str, body: Any) -> httpx.Response:
    return await http.post("/graphql", json=body, headers={"Authorization": f"Bearer {key}"})


async def drain(client: GraphQLClient, tokens: int) -> None:
    for _ in range(tokens):
        response = await client.post(QUERY)
        assert response.status_code == 200, response.text


# --- per key -------------------------------------------------------------------------------


async def test_a_client_key_over_its_limit_is_refused_with_429(
    limited: GraphQLClient, tenant: Tenant
) -> None:
    client = limited.with_key(tenant.client_key)
    await drain(client, 3)  # the burst
    error = assert_rate_limited(await client.post(QUERY), retry_after=2)  # 0.5 a second
    assert "client key" in error["message"], error


async def test_tokens_refill_over_time(
    limited: GraphQLClient, tenant: Tenant, ticks: Ticks
) -> None:
    client = limited.with_key(tenant.client_key)
    await drain(client, 3)
    assert_rate_limited(await client.post(QUERY), retry_after=2)
    ticks.advance(1.0)  # half a token
    assert_rate_limited(await client.post(QUERY), retry_after=1)
    ticks.advance(0.75)  # 0.875 of a token: 0.25 s to go, rounded up
    assert_rate_limited(await client.post(QUERY), retry_after=1)
    ticks.advance(0.25)
    await drain(client, 1)
    assert_rate_limited(await client.post(QUERY), retry_after=2)
    ticks.advance(3_600)  # an idle hour refills the bucket to its burst, no more
    await drain(client, 3)
    assert_rate_limited(await client.post(QUERY), retry_after=2)


async def test_a_refused_mutation_changes_nothing(
    gql: GraphQLClient, limited_http: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    await setup(gql, "acme")
    for _ in range(5):  # the server key's burst
        answered = await post(limited_http, tenant.server_key, report("acme"))
        assert answered.json()["data"]["reportUsage"]["accepted"], answered.text
    assert_rate_limited(await post(limited_http, tenant.server_key, report("acme")), 1)
    env = tenant.environments["development"]
    assert await total(db, env, "acme", "storage") == 5


async def test_server_and_client_keys_have_their_own_limits(
    limited: GraphQLClient, tenant: Tenant, ticks: Ticks
) -> None:
    client = limited.with_key(tenant.client_key)
    server = limited.with_key(tenant.server_key)  # same environment
    await drain(client, 3)
    assert_rate_limited(await client.post(QUERY), retry_after=2)
    await drain(server, 5)  # the server limit, untouched by the client key
    assert_rate_limited(await server.post(QUERY), retry_after=1)
    ticks.advance(2.0)
    await drain(client, 1)


async def test_each_key_has_its_own_bucket(limited: GraphQLClient, tenant: Tenant) -> None:
    await drain(limited.with_key(tenant.client_keys["development"]), 3)
    assert_rate_limited(await limited.with_key(tenant.client_key).post(QUERY), 2)
    await drain(limited.with_key(tenant.client_keys["production"]), 3)


async def test_rest_routes_are_limited_and_share_the_keys_bucket(
    limited_http: httpx.AsyncClient, tenant: Tenant
) -> None:
    headers = {"Authorization": f"Bearer {tenant.client_key}"}
    one = "/v1/customers/acme/entitlements/seats"
    every = "/v1/customers/acme/entitlements"
    for path in (one, every):
        assert (await limited_http.get(path, headers=headers)).status_code == 200
    assert (await post(limited_http, tenant.client_key, {"query": QUERY})).status_code == 200
    for path in (one, every):
        assert_rate_limited(await limited_http.get(path, headers=headers), retry_after=2)
    assert_rate_limited(await post(limited_http, tenant.client_key, {"query": QUERY}), 2)


# --- batches -------------------------------------------------------------------------------


async def test_a_batch_of_n_operations_costs_n_tokens(
    gql: GraphQLClient,
    limited_http: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    ticks: Ticks,
) -> None:
    await setup(gql, "acme")
    env = tenant.environments["development"]
    batch = [report("acme")] * 3
    answered = await post(limited_http, tenant.server_key, batch)
    assert answered.status_code == 200, answered.text
    assert [r["data"]["reportUsage"]["accepted"] for r in answered.json()] == [True] * 3
    # Two tokens left: the next batch of three is refused whole, nothing of it runs. The
    # retry needs all three back (it takes its first before its body is read, like this one).
    assert_rate_limited(await post(limited_http, tenant.server_key, batch), retry_after=2)
    assert await total(db, env, "acme", "storage") == 3
    ticks.advance(2.0)
    assert (await post(limited_http, tenant.server_key, batch)).status_code == 200
    assert await total(db, env, "acme", "storage") == 6
    assert_rate_limited(await post(limited_http, tenant.server_key, {"query": QUERY}), 1)


async def test_a_batch_larger_than_the_burst_waits_for_a_full_bucket(
    limited_http: httpx.AsyncClient, tenant: Tenant, ticks: Ticks
) -> None:
    """A batch costs at most the burst, so it can always pass once the bucket is full. Its
    size is known only once its body is read: an empty bucket refuses it before that, as any
    request, until one token is back; then the body is read and the rest awaited."""
    batch = [{"query": QUERY}] * 7  # burst 5
    assert (await post(limited_http, tenant.server_key, batch)).status_code == 200
    assert_rate_limited(await post(limited_http, tenant.server_key, batch), retry_after=1)
    ticks.advance(1.0)
    assert_rate_limited(await post(limited_http, tenant.server_key, batch), retry_after=5)
    ticks.advance(5.0)
    assert (await post(limited_http, tenant.server_key, batch)).status_code == 200


# --- failed authentication, per client address ---------------------------------------------


def _bad_key() -> dict[str, str]:
    return {"Authorization": f"Bearer allot_pk_{secrets.token_urlsafe(32)}"}


async def _status(http: httpx.AsyncClient, headers: dict[str, str]) -> int:
    return (await http.post("/graphql", json={"query": QUERY}, headers=headers)).status_code


async def test_failed_authentications_are_limited_per_address(
    limited_app: Starlette, tenant: Tenant, ticks: Ticks
) -> None:
    async with (
        _client(limited_app, "198.51.100.7") as http,
        _client(limited_app, "198.51.100.8") as neighbour,
    ):
        known = {"Authorization": f"Bearer {tenant.server_key}"}
        assert await _status(http, known) == 200  # looked up once, now cached by the process
        for _ in range(2):  # the burst of failures
            assert await _status(http, _bad_key()) == 401
        refused = await http.post("/graphql", json={"query": QUERY}, headers=_bad_key())
        error = assert_rate_limited(refused, retry_after=1)
        assert "authentication" in error["message"], error
        rest = await http.get("/v1/customers/a/entitlements", headers=_bad_key())
        assert_rate_limited(rest, retry_after=1)
        # Keys the process knows still work from there; a key it would have to look up waits.
        assert await _status(http, known) == 200
        unknown_yet = {"Authorization": f"Bearer {tenant.client_key}"}
        assert_rate_limited(
            await http.post("/graphql", json={"query": QUERY}, headers=unknown_yet), 1
        )
        assert await _status(neighbour, _bad_key()) == 401  # another address, its own bucket
        ticks.advance(1.0)
        assert await _status(http, _bad_key()) == 401


async def test_made_up_session_cookies_are_limited_per_address(limited_app: Starlette) -> None:
    """A session cookie is looked up in the database as a key is: made-up ones drain the
    address's bucket of failed authentications like made-up keys."""
    async with _client(limited_app, "198.51.100.10") as http:
        made_up = {"Cookie": "allot_session=made-up", "X-CSRF-Token": "x"}
        for _ in range(2):  # the burst of failures
            assert await _status(http, made_up) == 401
        refused = await http.post("/graphql", json={"query": QUERY}, headers=made_up)
        error = assert_rate_limited(refused, retry_after=1)
        assert "authentication" in error["message"], error
        assert_rate_limited(
            await http.post("/graphql", json={"query": QUERY}, headers=_bad_key()), 1
        )


async def test_requests_without_a_key_cost_no_failure_tokens(limited_app: Starlette) -> None:
    """No key is answered 401 without a database lookup, so it is not what the per-address
    bucket protects: it does not drain it."""
    async with _client(limited_app, "198.51.100.9") as http:
        for _ in range(5):
            assert await _status(http, {}) == 401
        assert await _status(http, _bad_key()) == 401
