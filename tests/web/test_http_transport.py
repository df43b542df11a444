"""GraphQL over HTTP (media types, status codes, GET queries) and CORS, in-process.

The independent check of the same rules is the graphql-http audit against a real server
(tests/e2e/test_graphql_http_audit.py); these tests pin allot's own choices: the status codes
kept for clients that name no media type, the fast path's content type, GET never running a
mutation, and which origins get CORS headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from app.main import create_app
from app.settings import ConfigError, Settings
from app.web.media_types import Answer, negotiate
from tests.support import Tenant

GRAPHQL_RESPONSE = "application/graphql-response+json"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ORIGIN = "https://app.example.com"


def _auth(key: str, accept: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    if accept is not None:
        headers["Accept"] = accept
    return headers


async def _post(http: httpx.AsyncClient, key: str, accept: str | None, body: Any) -> httpx.Response:
    return await http.post("/graphql", json=body, headers=_auth(key, accept))


# --- negotiation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept, get, expected",
    [
        (None, False, Answer.LEGACY_JSON),
        ("*/*", False, Answer.LEGACY_JSON),
        ("text/plain", False, Answer.LEGACY_JSON),
        ("application/json", False, Answer.JSON),
        ("application/json; charset=utf-8", False, Answer.JSON),
        (GRAPHQL_RESPONSE, False, Answer.GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", False, Answer.GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", False, Answer.GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0.5, application/json", False, Answer.JSON),
        (f"{GRAPHQL_RESPONSE};q=0, application/json", False, Answer.JSON),
        (BROWSER, True, Answer.HTML),
        (BROWSER, False, Answer.LEGACY_JSON),
        ("*/*", True, Answer.LEGACY_JSON),
        ("application/json, text/html", True, Answer.JSON),
        ("text/html;q=0.5, application/json", True, Answer.JSON),
    ],
)
def test_negotiation(accept: str | None, get: bool, expected: Answer) -> None:
    assert negotiate(accept, html=get) is expected


# --- POST: media types and status codes ------------------------------------------------------


async def test_graphql_response_json_is_answered_in_kind(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    ok = await _post(http, tenant.server_key, GRAPHQL_RESPONSE, {"query": "{ __typename }"})
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert ok.json() == {"data": {"__typename": "Query"}}
    for query in ("{", "{ noSuchField }"):
        bad = await _post(http, tenant.server_key, GRAPHQL_RESPONSE, {"query": query})
        assert bad.status_code == 400, query
        assert bad.headers["content-type"].startswith(GRAPHQL_RESPONSE)
        assert "data" not in bad.json() and bad.json()["errors"], query
    coercion = await _post(
        http,
        tenant.server_key,
        GRAPHQL_RESPONSE,
        {"query": "query($id: ID!) { __typename }", "variables": {"id": None}},
    )
    assert coercion.status_code == 400 and "data" not in coercion.json()


async def test_an_execution_error_is_200_with_errors(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    """Execution started (a field refused): 200 with `data` and `errors`, in every type."""
    query = {"query": "{ customers(first: 1) { totalCount } }"}
    for accept in (GRAPHQL_RESPONSE, "application/json", None):
        response = await _post(http, tenant.client_key, accept, query)
        assert response.status_code == 200, accept
        body = response.json()
        assert "data" in body and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_application_json_by_name_gets_the_specs_200(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    """`Accept: application/json`: request errors of a well-formed request are 200; no
    Accept (or `*/*`) keeps allot's 400; a request that is not GraphQL over HTTP is 400."""
    for query in ("{", "{ noSuchField }"):
        named = await _post(http, tenant.server_key, "application/json", {"query": query})
        assert named.status_code == 200 and named.json()["errors"], query
        assert named.headers["content-type"].startswith("application/json")
        for legacy in (None, "*/*"):
            response = await _post(http, tenant.server_key, legacy, {"query": query})
            assert response.status_code == 400, (legacy, query)
            assert response.json()["data"] is None  # the body as it always was
    for malformed in (
        {"qeury": "{ __typename }"},
        {"query": 1},
        {"query": "{ a }", "variables": 1},
        {"query": "{ __typename }", "extensions": "x"},
    ):
        response = await _post(http, tenant.server_key, "application/json", malformed)
        assert response.status_code == 400, malformed


async def test_the_fast_path_answers_in_the_negotiated_type(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    query = {
        "query": 'query { entitlement(customerId: "nobody", featureId: "f") '
        "{ hasAccess denyReason } }"
    }
    plain = await _post(http, tenant.client_key, None, query)
    typed = await _post(http, tenant.client_key, GRAPHQL_RESPONSE, query)
    assert plain.headers["content-type"] == "application/json"
    assert typed.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert plain.json() == typed.json()
    assert typed.json()["data"]["entitlement"]["hasAccess"] is False


# --- GET ---------------------------------------------------------------------------------


async def test_get_runs_queries_with_json_variables(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    params = {
        "query": "query Q($name: String!) { __type(name: $name) { name } }",
        "variables": orjson.dumps({"name": "Query"}).decode(),
        "operationName": "Q",
    }
    for accept in ("application/json", GRAPHQL_RESPONSE, None):
        response = await http.get(
            "/graphql", params=params, headers=_auth(tenant.server_key, accept)
        )
        assert response.status_code == 200, (accept, response.text)
        assert response.json() == {"data": {"__type": {"name": "Query"}}}
    html = await http.get("/graphql", params=params, headers=_auth(tenant.server_key, BROWSER))
    assert html.headers["content-type"].startswith("text/html")


async def test_get_never_runs_a_mutation(http: httpx.AsyncClient, tenant: Tenant) -> None:
    mutation = (
        'mutation { reportUsage(input: {customerId: "c", featureId: "f", value: 1}) '
        "{ errors { code } } }"
    )
    for accept in ("application/json", GRAPHQL_RESPONSE):
        response = await http.get(
            "/graphql", params={"query": mutation}, headers=_auth(tenant.server_key, accept)
        )
        assert response.status_code == 405, response.text
        assert response.headers["allow"] == "POST"
        assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    # A document holding both: the operation chosen decides.
    both = "query Q { __typename } mutation M { __typename }"
    headers = _auth(tenant.server_key, "application/json")
    query = await http.get(
        "/graphql", params={"query": both, "operationName": "Q"}, headers=headers
    )
    assert query.status_code == 200 and query.json() == {"data": {"__typename": "Query"}}
    refused = await http.get(
        "/graphql", params={"query": both, "operationName": "M"}, headers=headers
    )
    assert refused.status_code == 405


async def test_get_without_a_query_is_400(http: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await http.get("/graphql", headers=_auth(tenant.server_key, "application/json"))
    assert response.status_code == 400
    bad_variables = await http.get(
        "/graphql",
        params={"query": "{ __typename }", "variables": "[1"},
        headers=_auth(tenant.server_key, "application/json"),
    )
    assert bad_variables.status_code == 400


# --- CORS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def cors_http(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    application: Starlette = create_app(database_url, Settings(cors_origins=(ORIGIN,)))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://allot.test") as c:
            yield c


@pytest.fixture(scope="module")
async def any_origin_http(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    application: Starlette = create_app(database_url, Settings(cors_origins=("*",)))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://allot.test") as c:
            yield c


def _preflight(method: str, headers: str, origin: str = ORIGIN) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


PATHS = ("/graphql", "/v1/customers/c/entitlements", "/v1/customers/c/entitlements/f")


async def test_preflight_of_a_listed_origin(cors_http: httpx.AsyncClient) -> None:
    wanted = "authorization, content-type, x-allot-customer-token, x-request-id, x-api-key"
    for path in PATHS:
        method = "POST" if path == "/graphql" else "GET"
        response = await cors_http.options(path, headers=_preflight(method, wanted))
        assert response.status_code == 204, (path, response.text)
        assert response.headers["access-control-allow-origin"] == ORIGIN
        assert response.headers["access-control-allow-credentials"] == "true"
        assert method in response.headers["access-control-allow-methods"]
        allowed = {
            h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
        }
        assert {h.strip() for h in wanted.split(",")} <= allowed
        assert "Origin" in response.headers["vary"]
        assert int(response.headers["access-control-max-age"]) > 0


async def test_preflight_refusals(cors_http: httpx.AsyncClient) -> None:
    other = await cors_http.options(
        "/graphql", headers=_preflight("POST", "content-type", "https://evil.example")
    )
    assert other.status_code == 403
    assert "access-control-allow-origin" not in other.headers
    header = await cors_http.options("/graphql", headers=_preflight("POST", "x-custom"))
    assert header.status_code == 403 and "access-control-allow-origin" not in header.headers
    method = await cors_http.options(PATHS[1], headers=_preflight("POST", "content-type"))
    assert method.status_code == 403
    plain = await cors_http.options("/graphql")
    assert plain.status_code == 204 and "POST" in plain.headers["allow"]


async def test_cors_headers_on_answers_errors_included(
    cors_http: httpx.AsyncClient, tenant: Tenant
) -> None:
    headers = {**_auth(tenant.client_key), "Origin": ORIGIN}
    ok = await cors_http.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == ORIGIN
    exposed = {h.strip() for h in ok.headers["access-control-expose-headers"].split(",")}
    assert exposed == {"X-Request-Id", "Retry-After"}
    assert "Origin" in ok.headers["vary"]
    rest = await cors_http.get(PATHS[2], headers=headers)
    assert rest.headers["access-control-allow-origin"] == ORIGIN
    # A refusal is readable by the frontend too (401 here).
    refused = await cors_http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Origin": ORIGIN}
    )
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == ORIGIN
    # An origin not listed: no CORS headers (the browser refuses the read), but Vary.
    other = await cors_http.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={**headers, "Origin": "https://evil.example"},
    )
    assert "access-control-allow-origin" not in other.headers and other.headers["vary"]
    # No Origin (a backend): nothing added.
    backend = await cors_http.post(
        "/graphql", json={"query": "{ __typename }"}, headers=_auth(tenant.client_key)
    )
    assert not any(h.startswith("access-control-") for h in backend.headers)


async def test_any_origin_is_without_credentials(
    any_origin_http: httpx.AsyncClient, tenant: Tenant
) -> None:
    headers = {**_auth(tenant.client_key), "Origin": "https://anyone.example"}
    ok = await any_origin_http.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
    assert ok.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in ok.headers
    preflight = await any_origin_http.options(
        "/graphql", headers=_preflight("POST", "authorization", "https://anyone.example")
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in preflight.headers


async def test_cors_off_by_default(http: httpx.AsyncClient, tenant: Tenant) -> None:
    headers = {**_auth(tenant.client_key), "Origin": ORIGIN}
    response = await http.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
    assert not any(h.startswith("access-control-") for h in response.headers)
    preflight = await http.options("/graphql", headers=_preflight("POST", "authorization"))
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_origins_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOT_CORS_ORIGINS", f" {ORIGIN}/ , http://localhost:3000")
    assert Settings.from_env().cors_origins == (ORIGIN, "http://localhost:3000")
    monkeypatch.setenv("ALLOT_CORS_ORIGINS", "*")
    assert Settings.from_env().cors_origins == ("*",)
    for bad in ("app.example.com", "https://app.example.com/path", "ftp://x"):
        monkeypatch.setenv("ALLOT_CORS_ORIGINS", bad)
        with pytest.raises(ConfigError, match="ALLOT_CORS_ORIGINS"):
            Settings.from_env()
