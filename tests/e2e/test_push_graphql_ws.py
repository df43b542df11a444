"""An independent client: the `graphql-ws` npm package (under Node) subscribes to one server
process and receives the change made through another. `.ci/run` installs it (`npm ci` in
tests/e2e/node); under CI a missing install fails this test instead of skipping it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.push_client import two_api_servers
from tests.e2e.test_push import CHANGED, SETTLE
from tests.graphql.entitlements.catalog import apply_catalog, new_customer
from tests.graphql.entitlements.conftest import grant
from tests.graphql.usage.server import ApiServer
from tests.support import GraphQLClient, Tenant

pytestmark = pytest.mark.e2e

NODE_DIR = Path(__file__).resolve().parent / "node"


@pytest.fixture(scope="module")
def two_servers(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiServer, ApiServer]]:
    with two_api_servers(database_url, tmp_path_factory.mktemp("push-node")) as servers:
        yield servers


def _node() -> str:
    node = shutil.which("node")
    installed = (NODE_DIR / "node_modules" / "graphql-ws").is_dir()
    if node is None or not installed:
        why = (
            "node is not installed"
            if node is None
            else f"graphql-ws is not installed: run `npm ci` in {NODE_DIR}"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{why} (CI must run this test: .ci/run installs it)")
        pytest.skip(why)
    return node


async def _line(stream: asyncio.StreamReader, within: float = 20) -> dict[str, Any]:
    raw = await asyncio.wait_for(stream.readline(), within)
    assert raw, "the node client exited"
    line: dict[str, Any] = json.loads(raw)
    return line


async def _run(
    node: str, url: str, key: str, variables: dict[str, Any], events: int = 1
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        node,
        str(NODE_DIR / "subscribe.mjs"),
        url,
        key,
        CHANGED,
        json.dumps(variables),
        str(events),
        cwd=NODE_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_graphql_ws_receives_a_change_made_through_the_other_process(
    two_servers: tuple[ApiServer, ApiServer],
    tenant: Tenant,
) -> None:
    node = _node()
    a, b = two_servers
    url = b.base_url.replace("http", "ws", 1) + "/graphql"
    async with httpx.AsyncClient(base_url=a.base_url, timeout=10) as http:
        through_a = GraphQLClient(http, tenant.server_key)
        await apply_catalog(through_a)
        await new_customer(through_a, "acme")
        process = await _run(node, url, tenant.client_key, {"c": "acme"})
        try:
            assert process.stdout is not None
            assert await _line(process.stdout) == {"connected": True}
            await asyncio.sleep(SETTLE)
            payload = await grant(through_a, "acme", {"featureId": "sso", "duration": "ONE_WEEK"})
            assert payload["errors"] == []
            message = await _line(process.stdout)
            change = message["next"]["data"]["entitlementsChanged"]
            assert change["customerId"] == "acme"
            sso = {e["featureId"]: e for e in change["state"]["entitlements"]}["sso"]
            assert sso["hasAccess"] is True
            assert await asyncio.wait_for(process.wait(), 10) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def test_graphql_ws_is_refused_an_unknown_key(
    two_servers: tuple[ApiServer, ApiServer],
) -> None:
    node = _node()
    url = two_servers[1].base_url.replace("http", "ws", 1) + "/graphql"
    process = await _run(node, url, "allot_sk_not-a-key", {"c": "acme"})
    try:
        assert process.stdout is not None
        lines = [await _line(process.stdout), await _line(process.stdout)]
        assert {"closed": 4403, "reason": "Forbidden"} in lines, lines
        assert await asyncio.wait_for(process.wait(), 10) == 1
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
