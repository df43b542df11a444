"""/healthz, and the self-hosted GraphiQL page with its vendored assets."""

from __future__ import annotations

import re

import httpx

STATIC_PREFIX = "/static/graphiql/"
CONTENT_TYPES = {".css": "text/css", ".js": "javascript"}


async def test_healthz_answers_200_with_the_database_up(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "database": "up"}


async def test_healthz_needs_no_key(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz", headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 200


async def test_graphiql_page_loads_only_local_assets(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<html" in page and "GraphiQL" in page
    # No CDN, no external URL of any kind: the page works air-gapped.
    assert re.search(r"https?://", page, re.IGNORECASE) is None, re.findall(r"https?://\S+", page)
    references = re.findall(r'(?:src|href)\s*=\s*"([^"]+)"', page)
    assert not any(r.startswith("//") for r in references), references  # protocol-relative
    assets = [r for r in references if not r.startswith("data:")]
    assert assets, "the page references no assets"
    assert all(a.startswith(STATIC_PREFIX) for a in assets), assets
    kinds = {a.rsplit(".", 1)[-1] for a in assets}
    assert {"css", "js"} <= kinds, assets

    for asset in assets:
        served = await http.get(asset)
        assert served.status_code == 200, asset
        assert served.content, asset
        suffix = "." + asset.rsplit(".", 1)[-1]
        assert CONTENT_TYPES[suffix] in served.headers["content-type"], (
            asset,
            served.headers["content-type"],
        )


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def test_graphiql_page_is_served_to_browsers_without_a_key(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/graphql", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/graphql" in response.text
    # Anyone else's GET is a query (GraphQL over HTTP): it needs a key like a POST.
    for accept in (None, "*/*", "application/json", "application/graphql-response+json"):
        headers = {"Accept": accept} if accept else {}
        answer = await http.get("/graphql", params={"query": "{ __typename }"}, headers=headers)
        assert answer.status_code == 401, accept
        assert answer.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_unknown_static_asset_is_404(http: httpx.AsyncClient) -> None:
    response = await http.get(STATIC_PREFIX + "nope.js")
    assert response.status_code == 404
