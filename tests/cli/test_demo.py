"""`allot serve --demo` as a real process: what it loads, and that a restart never changes
or archives anything it did not create itself (issue 9: it archived the user's catalog)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.process import AllotServer

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_customers_query() -> str:
    """The README tour's query of the demo customers (`gql '{"query": …}'`)."""
    (line,) = [
        line
        for line in README.read_text().splitlines()
        if line.startswith('gql \'{"query": "{ customers')
    ]
    return str(json.loads(line.removeprefix("gql '").removesuffix("'"))["query"])


STATE = """
{
  features(first: 100, includeArchived: true) { edges { node { id isArchived } } }
  plans(first: 100, includeArchived: true) { edges { node { id isArchived } } }
  addons(first: 100, includeArchived: true) { edges { node { id isArchived } } }
  customers(first: 100) { edges { node { id } } }
}
"""

CUSTOMER = """
query($id: String!) {
  customer(id: $id) {
    id
    subscriptions { id status plan { id } invoices { id status total } }
  }
  seats: entitlement(customerId: $id, featureId: "seats") { currentUsage usageLimit }
  calls: entitlement(customerId: $id, featureId: "api-calls") { currentUsage }
}
"""


def gql(server: AllotServer, key: str, query: str, **variables: Any) -> Any:
    response = httpx.post(
        f"{server.base_url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {key}"},
        timeout=15,
    )
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


def mutate(server: AllotServer, key: str, query: str, **variables: Any) -> Any:
    payload = next(iter(gql(server, key, query, **variables).values()))
    assert payload["errors"] == [], payload
    return payload


def state(server: AllotServer, key: str) -> dict[str, dict[str, bool | None]]:
    data = gql(server, key, STATE)
    return {
        root: {e["node"]["id"]: e["node"].get("isArchived") for e in data[root]["edges"]}
        for root in ("features", "plans", "addons", "customers")
    }


def start(args: list[str], env: dict[str, str], log: Path) -> AllotServer:
    server = AllotServer(args, env, log)
    server.wait_ready()
    return server


def customer(server: AllotServer, key: str, customer_id: str) -> Any:
    return gql(server, key, CUSTOMER, id=customer_id)


def test_demo_loads_customers_and_a_restart_keeps_the_users_data(
    fresh_env: Callable[[], dict[str, str]], tmp_path: Path
) -> None:
    env = fresh_env()
    server = start(["--demo"], env, tmp_path / "first.log")
    try:
        key = server.server_keys()["development"]
        loaded = state(server, key)
        assert {"free", "pro", "enterprise"} <= loaded["plans"].keys()
        # A few customers, on several plans, with usage, a trial and an invoice.
        assert set(loaded["customers"]) == {"umbrella", "initech", "globex", "hooli"}
        plans = {}
        for customer_id in loaded["customers"]:
            found = customer(server, key, customer_id)
            (sub,) = found["customer"]["subscriptions"]
            plans[customer_id] = (sub["plan"]["id"], sub["status"])
        assert plans == {
            "umbrella": ("enterprise", "ACTIVE"),
            "initech": ("pro", "ACTIVE"),
            "globex": ("pro", "IN_TRIAL"),
            "hooli": ("free", "ACTIVE"),
        }
        tour = gql(server, key, readme_customers_query())["customers"]["edges"]
        assert {e["node"]["id"] for e in tour} == set(loaded["customers"])
        umbrella = customer(server, key, "umbrella")
        (invoice,) = umbrella["customer"]["subscriptions"][0]["invoices"]
        assert invoice["status"] == "OPEN" and invoice["total"] == "1500.00"
        assert umbrella["seats"] == {"currentUsage": 32, "usageLimit": 40}
        initech = customer(server, key, "initech")
        assert initech["seats"] == {"currentUsage": 14, "usageLimit": 15}  # 10 + a pack of 5
        assert initech["calls"]["currentUsage"] == 10

        # The user's own work: a feature, a product with a plan, a customer, and changes to
        # demo things (an add-on archived, a plan renamed).
        mutate(
            server,
            key,
            'mutation { createFeature(input: {id: "csv-export", '
            "type: BOOLEAN}) { feature { id } errors { code message } } }",
        )
        mutate(
            server,
            key,
            'mutation { createProduct(input: {id: "mine"}) '
            "{ product { id } errors { code message } } }",
        )
        mutate(
            server,
            key,
            'mutation { createPlan(input: {id: "mine-basic", '
            'productId: "mine", publish: true}) { plan { id } errors { code message } } }',
        )
        mutate(
            server,
            key,
            'mutation { archiveAddon(input: {id: "extended-retention"}) '
            "{ addon { id } errors { code message } } }",
        )
        mutate(
            server,
            key,
            'mutation { provisionCustomer(input: {customerId: "wayne", '
            'subscription: {planId: "mine-basic"}}) { customer { id } '
            "errors { code message } } }",
        )
        mutate(
            server,
            key,
            'mutation { reportUsage(input: {customerId: "initech", '
            'featureId: "seats", value: 1}) { accepted errors { code message } } }',
        )
        before = state(server, key)
        assert before["addons"]["extended-retention"] is True
        server.stop()
    finally:
        server.close()

    for run in ("second", "third"):
        server = start(["--demo"], env, tmp_path / f"{run}.log")
        try:
            assert state(server, key) == before, server.log_text()
            initech = customer(server, key, "initech")
            assert initech["seats"]["currentUsage"] == 15  # not reported again
            log = server.log_text()
            assert "demo catalog already present" in log
            assert "demo customers created: none" in log
            server.stop()
        finally:
            server.close()


def test_demo_next_to_an_existing_catalog_archives_nothing(
    fresh_env: Callable[[], dict[str, str]], tmp_path: Path
) -> None:
    """The user started without --demo and built a catalog; a later --demo adds the demo to
    it and archives nothing. When the user already uses a demo id, nothing is loaded."""
    env = fresh_env()
    server = start([], env, tmp_path / "plain.log")
    try:
        key = server.server_keys()["development"]
        mutate(
            server,
            key,
            'mutation { createFeature(input: {id: "csv-export", '
            "type: BOOLEAN}) { feature { id } errors { code message } } }",
        )
        server.stop()
    finally:
        server.close()
    server = start(["--demo"], env, tmp_path / "demo.log")
    try:
        loaded = state(server, key)
        assert loaded["features"]["csv-export"] is False
        assert "seats" in loaded["features"] and "umbrella" in loaded["customers"]
        server.stop()
    finally:
        server.close()

    other = fresh_env()
    server = start([], other, tmp_path / "taken.log")
    try:
        key = server.server_keys()["development"]
        mutate(
            server,
            key,
            'mutation { createFeature(input: {id: "seats", '
            "type: BOOLEAN}) { feature { id } errors { code message } } }",
        )
        server.stop()
    finally:
        server.close()
    server = start(["--demo"], other, tmp_path / "taken-demo.log")
    try:
        after = state(server, key)
        assert after["features"] == {"seats": False} and after["customers"] == {}
        assert "demo catalog not loaded: the environment already has feature seats" in (
            server.log_text()
        )
        server.stop()
    finally:
        server.close()
