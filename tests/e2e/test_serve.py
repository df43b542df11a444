"""`allot serve --demo` as a real process, driven over real HTTP and from the command line.

The shared `served` server (see conftest.py) answers the API tests; the lifecycle tests start
servers of their own to check what happens on SIGTERM / SIGINT and on a second start.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml

from tests.e2e.process import (
    STOP_TIMEOUT,
    AllotServer,
    Served,
    allot_env,
    postgres_family,
    postgres_processes,
    run_allot,
)

pytestmark = pytest.mark.e2e

DEMO_PLANS = {"free", "pro", "enterprise"}

CATALOG_QUERY = """
{
  environment { slug }
  plans { totalCount edges { node { id pricingType parentPlanId } } }
  addons { edges { node { id } } }
  features(first: 100) { edges { node { id type } } }
}
"""

CREATE_FEATURE = """
mutation($input: CreateFeatureInput!) {
  createFeature(input: $input) { feature { id type name } errors { code message field } }
}
"""


def graphql(base_url: str, key: str | None, query: str, **variables: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(
        f"{base_url}/graphql",
        json={"query": query, "variables": variables},
        headers=headers,
        timeout=15,
    )


def data(response: httpx.Response) -> Any:
    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body
    return body["data"]


def nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in connection["edges"]]


# --- the API over HTTP ---------------------------------------------------------------------


def test_first_start_prints_one_server_key_per_environment(served: Served) -> None:
    assert set(served.keys) == {"development", "production"}
    assert all(key.startswith("allot_sk_") for key in served.keys.values())
    banner = "\n".join(served.server.stdout_lines)
    assert banner.count("allot_sk_") == 3  # two keys, plus the GraphiQL link with the dev key
    for environment, key in served.keys.items():
        response = graphql(served.base_url, key, "{ environment { slug } }")
        assert data(response)["environment"]["slug"] == environment


def test_first_start_prints_the_console_admin_login_and_it_logs_in(served: Served) -> None:
    lines = served.server.stdout_lines
    assert any("Console admin login at " in line for line in lines)
    assert "  email     admin@localhost" in lines
    (password,) = [line.split()[-1] for line in lines if line.startswith("  password  ")]
    with httpx.Client(base_url=served.base_url, timeout=15) as browser:
        form = browser.get("/console/login")
        csrf = re.search(r'name=csrf value="([^"]+)"', form.text)
        assert csrf, form.text
        response = browser.post(
            "/console/login",
            data={"email": "admin@localhost", "password": password, "csrf": csrf.group(1)},
        )
        assert response.status_code == 303, response.text
        session = browser.get("/console/session").json()
        assert session["user"]["email"] == "admin@localhost"
        assert session["user"]["role"] == "admin"
        answer = browser.post(
            "/graphql",
            json={"query": "{ users { email role } }"},
            headers={"X-CSRF-Token": session["csrfToken"]},
        )
    assert answer.json()["data"]["users"] == [{"email": "admin@localhost", "role": "ADMIN"}]


def test_healthz(served: Served) -> None:
    response = httpx.get(f"{served.base_url}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up"}


def test_demo_catalog_is_in_development(served: Served) -> None:
    result = data(graphql(served.base_url, served.dev_key, CATALOG_QUERY))
    plans = {plan["id"]: plan for plan in nodes(result["plans"])}
    assert set(plans) == DEMO_PLANS
    assert plans["enterprise"]["pricingType"] == "CUSTOM"
    assert plans["pro"]["parentPlanId"] == "free"
    assert "extra-seats" in {addon["id"] for addon in nodes(result["addons"])}
    features = {f["id"]: f["type"] for f in nodes(result["features"])}
    assert features["seats"] == "METERED"
    assert features["sso"] == "BOOLEAN"
    assert features["retention-days"] == "CONFIGURATION"


def test_production_starts_empty(served: Served) -> None:
    result = data(graphql(served.base_url, served.keys["production"], CATALOG_QUERY))
    assert result["plans"]["totalCount"] == 0


def test_a_mutation_creates_a_feature(served: Served) -> None:
    feature = {"id": "e2e-export", "type": "BOOLEAN", "name": "CSV export"}
    payload = data(graphql(served.base_url, served.dev_key, CREATE_FEATURE, input=feature))
    assert payload["createFeature"]["errors"] == []
    assert payload["createFeature"]["feature"] == feature
    again = data(graphql(served.base_url, served.dev_key, CREATE_FEATURE, input=feature))
    assert [e["code"] for e in again["createFeature"]["errors"]] == ["DUPLICATE_ID"]


@pytest.mark.parametrize("key", [None, "allot_sk_not-a-real-key"])
def test_no_or_unknown_key_is_401(served: Served, key: str | None) -> None:
    response = graphql(served.base_url, key, "{ plans { totalCount } }")
    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body.get("data") is None


def test_graphiql_page_is_served(served: Served) -> None:
    response = httpx.get(f"{served.base_url}/graphql", headers={"Accept": "text/html"}, timeout=10)
    assert response.status_code == 200
    assert "allot GraphiQL" in response.text


# --- the command line against the running server's database -------------------------------


def test_keys_create_gives_a_working_key(served: Served) -> None:
    result = run_allot(
        ["keys", "create", "--environment", "development", "--kind", "server", "--name", "e2e"],
        served.env,
    )
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("allot_sk_")
    assert data(graphql(served.base_url, key, "{ environment { slug } }")) == {
        "environment": {"slug": "development"}
    }
    # The command used the server's embedded PostgreSQL and left it running.
    assert httpx.get(f"{served.base_url}/healthz", timeout=10).status_code == 200

    listed = run_allot(["keys", "list", "--environment", "development"], served.env)
    assert listed.returncode == 0, listed.stderr
    assert key[:14] in listed.stdout and key not in listed.stdout


def test_client_key_reads_but_cannot_write(served: Served) -> None:
    result = run_allot(
        ["keys", "create", "--environment", "development", "--kind", "client"], served.env
    )
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("allot_pk_")
    assert data(graphql(served.base_url, key, "{ plans { totalCount } }"))["plans"][
        "totalCount"
    ] == len(DEMO_PLANS)
    body = graphql(
        served.base_url, key, CREATE_FEATURE, input={"id": "nope", "type": "BOOLEAN"}
    ).json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_keys_revoke_stops_a_key(served: Served) -> None:
    created = run_allot(
        ["keys", "create", "-e", "development", "--kind", "server", "--name", "short-lived"],
        served.env,
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    key_id = created.stdout.split("short-lived' ", 1)[1].split()[0]
    revoked = run_allot(["keys", "revoke", key_id, "--environment", "development"], served.env)
    assert revoked.returncode == 0, revoked.stderr
    assert graphql(served.base_url, key, "{ plans { totalCount } }").status_code == 401


def test_catalog_export_prints_the_demo_plans_as_yaml(served: Served, tmp_path: Path) -> None:
    result = run_allot(["catalog", "export", "--environment", "development"], served.env)
    assert result.returncode == 0, result.stderr
    document = yaml.safe_load(result.stdout)
    (product,) = [p for p in document["products"] if p["id"] == "app"]
    assert {plan["id"] for plan in product["plans"]} == DEMO_PLANS
    assert "extra-seats" in {addon["id"] for addon in product["addons"]}

    # Promote it: development's catalog applied to production, as a file.
    path = tmp_path / "catalog.yaml"
    path.write_text(result.stdout)
    dry = run_allot(["catalog", "apply", str(path), "-e", "production", "--dry-run"], served.env)
    assert dry.returncode == 0, dry.stderr
    assert "WOULD CREATE  PLAN    pro" in dry.stdout and "CREATED" not in dry.stdout
    prod_key = served.keys["production"]
    assert data(graphql(served.base_url, prod_key, "{ plans { totalCount } }")) == {
        "plans": {"totalCount": 0}
    }
    applied = run_allot(["catalog", "apply", str(path), "-e", "production"], served.env)
    assert applied.returncode == 0, applied.stderr
    assert data(graphql(served.base_url, prod_key, "{ plans { totalCount } }")) == {
        "plans": {"totalCount": len(DEMO_PLANS)}
    }
    again = run_allot(["catalog", "apply", str(path), "-e", "production"], served.env)
    assert again.returncode == 0 and again.stdout == "", again.stdout


def test_catalog_export_json(served: Served) -> None:
    import json

    result = run_allot(["catalog", "export", "-e", "development", "--format", "json"], served.env)
    assert result.returncode == 0, result.stderr
    assert {p["id"] for p in json.loads(result.stdout)["products"][0]["plans"]} == DEMO_PLANS


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["keys", "list", "--environment", "staging"], "no environment named 'staging'"),
        (["keys", "revoke", "not-an-id", "-e", "development"], "is not a key id"),
        (["catalog", "export", "-e", "nowhere"], "no environment named 'nowhere'"),
        (["catalog", "apply", "/no/such/file.yaml", "-e", "development"], "cannot read"),
    ],
)
def test_user_mistakes_exit_1_without_traceback(
    served: Served, args: list[str], message: str
) -> None:
    result = run_allot(args, served.env)
    assert result.returncode == 1, result
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_an_invalid_catalog_file_is_refused(served: Served, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("features: [ {id: x\n")
    result = run_allot(["catalog", "apply", str(broken), "-e", "development"], served.env)
    assert result.returncode == 1
    assert "not valid YAML" in result.stderr and "Traceback" not in result.stderr

    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("features:\n  - id: x\n    type: SOMETIMES\n")
    result = run_allot(["catalog", "apply", str(invalid), "-e", "development"], served.env)
    assert result.returncode == 1
    assert "features.0.type" in result.stderr and "Traceback" not in result.stderr


def test_usage_errors_exit_2(served: Served) -> None:
    result = run_allot(["keys", "create", "-e", "development", "--kind", "admin"], served.env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


# --- lifecycle: signals, the embedded PostgreSQL, second starts -----------------------------


def _assert_gone(procs: list[psutil.Process], data_dir: Path) -> None:
    _, alive = psutil.wait_procs(procs, timeout=STOP_TIMEOUT)
    assert not alive, f"still running: {alive}"
    assert postgres_processes(data_dir) == []


def _stop_and_check(server: AllotServer, sig: int, data_dir: Path) -> None:
    family = postgres_family(data_dir)
    assert family, "no embedded PostgreSQL found for the data directory"
    children = psutil.Process(server.proc.pid).children(recursive=True)
    started = time.monotonic()
    code = server.stop(sig, timeout=STOP_TIMEOUT)
    assert time.monotonic() - started < STOP_TIMEOUT
    assert code == 0, server.describe()
    _assert_gone(family + children, data_dir)


def test_sigterm_stops_the_server_and_its_embedded_postgres(tmp_path: Path, data_dir: Path) -> None:
    env = allot_env(data_dir)
    server = AllotServer(["--demo"], env, tmp_path / "first.log")
    try:
        base_url = server.wait_ready()
        key = server.server_keys()["development"]
        assert data(graphql(base_url, key, "{ plans { totalCount } }"))["plans"]["totalCount"] == 3
        _stop_and_check(server, signal.SIGTERM, data_dir)
    finally:
        server.close()

    # Second start on the same data: no new keys, the old ones work, --demo is harmless.
    # Two workers this time, stopped with SIGINT (Ctrl-C).
    server = AllotServer(["--demo", "--workers", "2"], env, tmp_path / "second.log")
    try:
        base_url = server.wait_ready()
        assert data(graphql(base_url, key, "{ plans { totalCount } }"))["plans"]["totalCount"] == 3
        assert not any("allot_sk_" in line for line in server.stdout_lines)
        # … and no admin login either: the account has its user.
        assert not any(line.startswith("  password  ") for line in server.stdout_lines)
        assert "demo catalog already present" in server.log_text()
        _stop_and_check(server, signal.SIGINT, data_dir)
    finally:
        server.close()


def test_a_busy_port_is_a_clear_error(served: Served, data_dir: Path) -> None:
    port = served.base_url.rsplit(":", 1)[1]
    result = run_allot(["serve", "--port", port], allot_env(data_dir), timeout=STOP_TIMEOUT * 3)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert postgres_processes(data_dir) == []
