"""Request limits and request errors: depth, aliases, tokens, body size, batches, page size,
malformed requests, and masking of internal errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from app.domain.catalog import features as catalog_features
from app.main import create_app
from app.resolvers.root import build_schema
from app.settings import Settings
from app.store import catalog as catalog_store
from tests.support import GraphQLClient, Tenant, client_of, running

SMALL = Settings(
    max_body_bytes=2_000,
    max_query_depth=4,
    max_aliases=3,
    max_tokens=200,
    max_batch=3,
)


@pytest.fixture(scope="module")
async def small_app(database_url: str) -> AsyncIterator[Starlette]:
    """The app with small limits, over the same test database."""
    async with running(create_app(database_url, SMALL)) as application:
        yield application


@pytest.fixture(scope="module")
async def small_http(small_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(small_app) as client:
        yield client


@pytest.fixture
def small(small_http: httpx.AsyncClient, tenant: Tenant) -> GraphQLClient:
    return GraphQLClient(small_http, tenant.server_key)


def _auth(key: str) -> dict[str, str]:
    """The headers of a GraphQL POST: the key, and the body's media type (required)."""
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def _request_error(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    """The single error of a refused request, after checking the response's shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body.get("data") is None, body
    assert len(body["errors"]) >= 1, body
    error: dict[str, Any] = body["errors"][0]
    assert error["message"], body
    return error


# --- query shape limits ----------------------------------------------------------------------


async def test_query_depth_over_the_limit_is_refused(small: GraphQLClient) -> None:
    # Depth counts from 0 at the root field (as graphql-depth-limit does).
    ok = "{ features { edges { node { meter { eventName } } } } }"  # depth 4
    assert (await small.execute(ok))["features"]["edges"] == []
    deep = "{ features { edges { node { meter { filters { values } } } } } }"  # depth 5
    error = _request_error(await small.post(deep))
    assert "depth" in error["message"], error


async def test_limits_hold_when_validation_is_cached(small: GraphQLClient) -> None:
    deep = "{ features { edges { node { meter { filters { values } } } } } }"
    for _ in range(3):
        _request_error(await small.post(deep))
    four = (
        "{ a: environment { slug } b: environment { slug } c: environment { slug } d: __typename }"
    )
    for _ in range(3):
        _request_error(await small.post(four))


async def test_a_document_is_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation dominates small queries: the same document must be parsed and validated
    once, whoever runs it. (Regression: limiter extensions built new rule classes per
    request, so the validation cache never hit.)"""
    schema = build_schema(SMALL)
    checks: list[str] = []
    original = schema.documents._check
    monkeypatch.setattr(schema.documents, "_check", lambda q: checks.append(q) or original(q))
    query = "{ environment { slug } __typename }"
    for _ in range(4):
        await schema.execute(query)
    assert checks == [query]


async def test_depth_through_fragments_counts_too(small: GraphQLClient) -> None:
    deep = (
        "query { features { ...F } } "
        "fragment F on FeatureConnection { edges { node { meter { filters { values } } } } }"
    )
    error = _request_error(await small.post(deep))
    assert "depth" in error["message"], error


async def test_too_many_aliases_are_refused(small: GraphQLClient) -> None:
    three = "{ a: environment { slug } b: environment { slug } c: environment { slug } }"
    assert len(await small.execute(three)) == 3
    four = three[:-1] + "d: environment { slug } }"
    error = _request_error(await small.post(four))
    assert "alias" in error["message"].lower(), error


async def test_too_many_tokens_are_refused(small: GraphQLClient) -> None:
    many = "{ environment { " + "slug " * 250 + "} }"
    error = _request_error(await small.post(many))
    assert "token" in error["message"].lower(), error
    # The same document under the limit is fine.
    assert await small.execute("{ environment { " + "slug " * 12 + "} }")


# --- body and batches ------------------------------------------------------------------------


async def test_body_over_the_limit_is_413(small_http: httpx.AsyncClient, tenant: Tenant) -> None:
    query = "{ environment { slug } }" + " " * SMALL.max_body_bytes
    response = await small_http.post(
        "/graphql", json={"query": query}, headers=_auth(tenant.server_key)
    )
    error = _request_error(response, 413)
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_streamed_body_over_the_limit_is_413(
    small_http: httpx.AsyncClient, tenant: Tenant
) -> None:
    """Without a Content-Length the limit is enforced while reading."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ environment { slug } }", "pad": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}'

    response = await small_http.post("/graphql", content=chunks(), headers=_auth(tenant.server_key))
    assert "content-length" not in response.request.headers
    assert _request_error(response, 413)["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_body_just_under_the_limit_is_fine(
    small_http: httpx.AsyncClient, tenant: Tenant
) -> None:
    body = orjson.dumps({"query": "{ environment { slug } }"})
    padded = body[:-1] + b" " * (SMALL.max_body_bytes - len(body)) + b"}"
    assert len(padded) == SMALL.max_body_bytes
    response = await small_http.post(
        "/graphql",
        content=padded,
        headers={**_auth(tenant.server_key), "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


async def _post_json(http: httpx.AsyncClient, key: str, payload: Any) -> httpx.Response:
    return await http.post("/graphql", content=orjson.dumps(payload), headers=_auth(key))


async def test_batch_over_max_batch_is_400(small_http: httpx.AsyncClient, tenant: Tenant) -> None:
    batch = [{"query": "{ environment { slug } }"}] * (SMALL.max_batch + 1)
    error = _request_error(await _post_json(small_http, tenant.server_key, batch))
    assert error["extensions"]["code"] == "BAD_REQUEST"


async def test_empty_batch_is_400(small_http: httpx.AsyncClient, tenant: Tenant) -> None:
    error = _request_error(await _post_json(small_http, tenant.server_key, []))
    assert error["extensions"]["code"] == "BAD_REQUEST"


async def test_batch_of_two_works(small_http: httpx.AsyncClient, tenant: Tenant) -> None:
    batch = [
        {"query": "{ environment { slug } }"},
        {"query": "query ($n: Int) { features(first: $n) { totalCount } }", "variables": {"n": 5}},
    ]
    response = await _post_json(small_http, tenant.server_key, batch)
    assert response.status_code == 200, response.text
    assert response.json() == [
        {"data": {"environment": {"slug": "development"}}},
        {"data": {"features": {"totalCount": 0}}},
    ]


async def test_batch_reports_errors_per_operation(
    small_http: httpx.AsyncClient, tenant: Tenant
) -> None:
    batch = [{"query": "{ environment { slug } }"}, {"query": "{ nope }"}, {"nothing": 1}]
    response = await _post_json(small_http, tenant.server_key, batch)
    assert response.status_code == 200, response.text
    first, second, third = response.json()
    assert first == {"data": {"environment": {"slug": "development"}}}
    assert second["data"] is None and "nope" in second["errors"][0]["message"]
    assert third["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


# --- page size -------------------------------------------------------------------------------


@pytest.mark.parametrize("first", [101, -1, 10_000])
async def test_first_out_of_range_is_an_error(gql: GraphQLClient, first: int) -> None:
    response = await gql.post(f"{{ features(first: {first}) {{ totalCount }} }}")
    body = response.json()
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "INVALID_INPUT", body
    assert "first" in error["message"]
    assert error["path"] == ["features"]
    assert body["data"] is None


async def test_first_100_is_fine(gql: GraphQLClient) -> None:
    for root in ("features", "products", "plans", "addons"):
        data = await gql.execute(f"{{ {root}(first: 100) {{ totalCount }} }}")
        assert data == {root: {"totalCount": 0}}


# --- malformed requests ----------------------------------------------------------------------


async def test_a_body_that_is_not_declared_json_is_415(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    """GraphQL over HTTP: the body is `application/json`; without that Content-Type (none,
    or a form's `text/plain`) nothing is parsed or run."""
    body = orjson.dumps({"query": "{ environment { slug } }"})
    key = {"Authorization": f"Bearer {tenant.server_key}"}
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded"):
        headers = key if content_type is None else {**key, "Content-Type": content_type}
        response = await http.post("/graphql", content=body, headers=headers)
        error = _request_error(response, 415)
        assert error["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE", content_type
    charset = {**key, "Content-Type": "application/json; charset=utf-8"}
    assert (await http.post("/graphql", content=body, headers=charset)).status_code == 200


async def test_invalid_json_is_400(http: httpx.AsyncClient, tenant: Tenant) -> None:
    for content in (b"{not json", b"", b'{"query": "{ environment { slug } }"'):
        response = await http.post("/graphql", content=content, headers=_auth(tenant.server_key))
        assert _request_error(response)["extensions"]["code"] == "BAD_REQUEST", content


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"query": None},
        {"query": ""},
        {"query": "   "},
        {"query": 42},
        {"variables": {}},
        {"query": "{ environment { slug } }", "variables": [1]},
        {"query": "{ environment { slug } }", "operationName": 7},
        "just a string",
        42,
    ],
)
async def test_missing_or_malformed_query_is_400(
    http: httpx.AsyncClient, tenant: Tenant, payload: Any
) -> None:
    error = _request_error(await _post_json(http, tenant.server_key, payload))
    assert error["extensions"]["code"] == "BAD_REQUEST"


async def test_syntax_error_is_400(gql: GraphQLClient) -> None:
    error = _request_error(await gql.post("{ environment { slug "))
    assert "Syntax Error" in error["message"], error
    assert error["locations"], error


async def test_unknown_field_is_400(gql: GraphQLClient) -> None:
    error = _request_error(await gql.post("{ environment { slug nope } }"))
    assert "nope" in error["message"], error


async def test_wrong_variable_type_is_400(gql: GraphQLClient) -> None:
    response = await gql.post(
        "query ($n: Int) { features(first: $n) { totalCount } }", {"n": "many"}
    )
    _request_error(response)


# --- internal errors -------------------------------------------------------------------------


async def test_internal_errors_are_masked(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(catalog_store, "list_features", broken)
    response = await gql.post("{ features { totalCount } }")
    text = response.text
    assert "secret detail" not in text
    assert "Traceback" not in text and "RuntimeError" not in text and ".py" not in text
    body = response.json()
    (error,) = body["errors"]
    assert error["message"] == "Internal server error."
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    request_id = error["extensions"]["requestId"]
    assert request_id and request_id == response.headers["x-request-id"]
    assert set(error["extensions"]) == {"code", "requestId"}
    assert body["data"] is None

    monkeypatch.undo()
    assert await gql.execute("{ features { totalCount } }") == {"features": {"totalCount": 0}}


async def test_internal_error_in_a_mutation_is_masked_and_changes_nothing(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = catalog_features.create_feature

    async def broken(session: Any, *args: Any, **kwargs: Any) -> Any:
        await original(session, *args, **kwargs)  # writes, then fails: must roll back
        raise RuntimeError("secret detail")

    monkeypatch.setattr(catalog_features, "create_feature", broken)
    response = await gql.post(
        'mutation { createFeature(input: {id: "boom", type: BOOLEAN}) { errors { code } } }'
    )
    assert "secret detail" not in response.text
    (error,) = response.json()["errors"]
    assert error["message"] == "Internal server error."
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    monkeypatch.undo()
    data = await gql.execute('{ feature(id: "boom") { id } features { totalCount } }')
    assert data == {"feature": None, "features": {"totalCount": 0}}
