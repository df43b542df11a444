"""Headless bootstrap: `allot migrate` on an empty database creates the account and its
environments (no keys printed), so `allot migrate && allot keys create …` works without ever
running `serve`; `allot environments create|list` for more environments."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import httpx

from app.main import create_app
from app.settings import Settings
from tests.e2e.process import AllotServer, run_allot


def ok(args: list[str], env: dict[str, str]) -> tuple[str, str]:
    result = run_allot(args, env)
    assert result.returncode == 0, result
    assert "Traceback" not in result.stderr
    return result.stdout, result.stderr


def refused(args: list[str], env: dict[str, str], message: str) -> None:
    result = run_allot(args, env)
    assert result.returncode == 1, result
    assert result.stderr.startswith("allot: error: ") and message in result.stderr, result
    assert "Traceback" not in result.stderr


async def environment_of(database_url: str, key: str) -> str:
    application = create_app(database_url, Settings())
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            response = await http.post(
                "/graphql",
                json={"query": "{ environment { slug } }"},
                headers={"Authorization": f"Bearer {key}"},
            )
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["environment"]["slug"])


def test_migrate_bootstraps_then_keys_create_works(fresh_env: Callable[[], dict[str, str]]) -> None:
    env = fresh_env()
    stdout, stderr = ok(["migrate"], env)
    assert stdout == ""
    assert "allot_sk_" not in stderr and "allot_pk_" not in stderr  # no keys printed
    assert "new installation" in stderr

    stdout, _ = ok(["keys", "create", "--environment", "development", "--kind", "server"], env)
    key = stdout.strip().splitlines()[-1]
    assert key.startswith("allot_sk_")
    assert asyncio.run(environment_of(env["DATABASE_URL"], key)) == "development"

    # A second migrate bootstraps nothing more.
    _, stderr = ok(["migrate"], env)
    assert "new installation" not in stderr
    stdout, _ = ok(["environments", "list", "--json"], env)
    assert [e["name"] for e in json.loads(stdout)] == ["development", "production"]


def test_environments_create_and_list(fresh_env: Callable[[], dict[str, str]]) -> None:
    env = fresh_env()
    refused(["environments", "list"], env, "run `allot migrate`")
    ok(["migrate"], env)
    stdout, stderr = ok(["environments", "create", "staging"], env)
    assert stdout == "Created environment staging.\n"
    assert "allot keys create --environment staging" in stderr
    ok(["environments", "create", "eu-prod", "--display-name", "Production (EU)"], env)

    stdout, _ = ok(["environments", "list"], env)
    lines = stdout.splitlines()
    assert lines[0].split() == ["NAME", "CREATED", "DISPLAY", "NAME"]
    assert [line.split()[0] for line in lines[1:]] == [
        "development",
        "production",
        "staging",
        "eu-prod",
    ]
    assert lines[-1].endswith("Production (EU)")

    refused(["environments", "create", "staging"], env, "exists already")
    refused(["environments", "create", "Staging!"], env, "is not an environment name")
    stdout, _ = ok(["keys", "create", "--environment", "staging", "--kind", "client"], env)
    key = stdout.strip().splitlines()[-1]
    assert asyncio.run(environment_of(env["DATABASE_URL"], key)) == "staging"


def test_serve_after_migrate_prints_no_keys_and_says_how_to_make_one(
    fresh_env: Callable[[], dict[str, str]], tmp_path: Path
) -> None:
    env = fresh_env()
    ok(["migrate"], env)
    server = AllotServer([], env, tmp_path / "serve.log")
    try:
        server.wait_ready()
        assert not any("allot_sk_" in line for line in server.stdout_lines)
        assert "no active server key: make one with `allot keys create" in server.log_text()
        server.stop()
    finally:
        server.close()
