"""Webhook endpoints over GraphQL: create, list, update, delete, rotate; validation; keys."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from app.domain.outbound.outbox import EVENT_TYPES
from tests.graphql.outbound.conftest import CREATE, create_endpoint
from tests.support import GraphQLClient, Tenant

LIST = """query($f: Int, $a: String) { webhookEndpoints(first: $f, after: $a) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { id url eventTypes enabled
  description } } } }"""
UPDATE = """mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) {
  endpoint { id url eventTypes enabled description } errors { code field message } } }"""
DELETE = """mutation($i: DeleteWebhookEndpointInput!) { deleteWebhookEndpoint(input: $i) {
  endpointId errors { code field } } }"""
ROTATE = """mutation($i: RotateWebhookSecretInput!) { rotateWebhookSecret(input: $i) {
  endpoint { id } secret errors { code field } } }"""
ONE = """query($id: String!) { webhookEndpoint(id: $id) { id url } }"""


async def test_create_returns_secret_once_and_lists(gql: GraphQLClient) -> None:
    payload = await gql.mutate(
        CREATE,
        {
            "i": {
                "url": "https://crm.example.com/hooks",
                "eventTypes": ["invoice.paid"],
                "description": "CRM",
            }
        },
    )
    assert payload["errors"] == []
    endpoint, secret = payload["endpoint"], payload["secret"]
    assert endpoint["url"] == "https://crm.example.com/hooks"
    assert endpoint["eventTypes"] == ["invoice.paid"]
    assert endpoint["enabled"] is True and endpoint["description"] == "CRM"
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32

    listed = (await gql.execute(LIST))["webhookEndpoints"]
    assert listed["totalCount"] == 1
    assert listed["edges"][0]["node"]["id"] == endpoint["id"]
    one = (await gql.execute(ONE, {"id": endpoint["id"]}))["webhookEndpoint"]
    assert one == {"id": endpoint["id"], "url": "https://crm.example.com/hooks"}
    assert (await gql.execute(ONE, {"id": "not-a-uuid"}))["webhookEndpoint"] is None
    # No field ever shows the secret again.
    response = await gql.post("{ webhookEndpoints { edges { node { secret } } } }")
    assert "errors" in response.json()


async def test_update_delete_and_paging(gql: GraphQLClient) -> None:
    ids = [(await create_endpoint(gql, f"http://127.0.0.1:9/{n}"))[0] for n in range(3)]
    first = (await gql.execute(LIST, {"f": 2}))["webhookEndpoints"]
    assert [e["node"]["id"] for e in first["edges"]] == ids[:2]
    assert first["pageInfo"]["hasNextPage"] is True and first["totalCount"] == 3
    rest = await gql.execute(LIST, {"f": 2, "a": first["pageInfo"]["endCursor"]})
    assert [e["node"]["id"] for e in rest["webhookEndpoints"]["edges"]] == ids[2:]

    updated = await gql.mutate(
        UPDATE,
        {
            "i": {
                "endpointId": ids[0],
                "url": "https://new.example.com/h",
                "eventTypes": ["trial.started", "trial.started", "invoice.paid"],
                "enabled": False,
            }
        },
    )
    assert updated["errors"] == []
    assert updated["endpoint"] == {
        "id": ids[0],
        "url": "https://new.example.com/h",
        "eventTypes": ["trial.started", "invoice.paid"],
        "enabled": False,
        "description": None,
    }
    # Omitted fields stay.
    again = await gql.mutate(UPDATE, {"i": {"endpointId": ids[0], "description": "x"}})
    assert again["endpoint"]["url"] == "https://new.example.com/h"
    assert again["endpoint"]["enabled"] is False and again["endpoint"]["description"] == "x"

    deleted = await gql.mutate(DELETE, {"i": {"endpointId": ids[1]}})
    assert deleted == {"endpointId": ids[1], "errors": []}
    gone = await gql.mutate(DELETE, {"i": {"endpointId": ids[1]}})
    assert gone["errors"][0]["code"] == "NOT_FOUND"
    bad = await gql.mutate(UPDATE, {"i": {"endpointId": "nope", "enabled": True}})
    assert bad["errors"] == [
        {"code": "NOT_FOUND", "field": ["endpointId"], "message": "no such id 'nope'"}
    ]
    assert (await gql.execute(LIST))["webhookEndpoints"]["totalCount"] == 2


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "example.com/hooks",
        "http://",
        "javascript:alert(1)",
        "https://exa mple.com",
        "file:///etc/passwd",
        "",
        "http://host:99999/",
    ],
)
async def test_url_must_be_http_or_https(gql: GraphQLClient, url: str) -> None:
    payload = await gql.mutate(CREATE, {"i": {"url": url}})
    assert payload["endpoint"] is None and payload["secret"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_INPUT", ["url"])]
    assert (await gql.execute(LIST))["webhookEndpoints"]["totalCount"] == 0


async def test_update_to_a_bad_url_changes_nothing(gql: GraphQLClient) -> None:
    endpoint_id, _ = await create_endpoint(gql, "https://ok.example.com/")
    payload = await gql.mutate(
        UPDATE, {"i": {"endpointId": endpoint_id, "url": "ftp://x", "enabled": False}}
    )
    assert payload["errors"][0]["code"] == "INVALID_INPUT"
    node = (await gql.execute(LIST))["webhookEndpoints"]["edges"][0]["node"]
    assert node["url"] == "https://ok.example.com/" and node["enabled"] is True


async def test_unknown_event_types_are_refused(gql: GraphQLClient) -> None:
    payload = await gql.mutate(
        CREATE,
        {
            "i": {
                "url": "https://ok.example.com/",
                "eventTypes": ["invoice.paid", "invoice.lost", "nope"],
            }
        },
    )
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("INVALID_INPUT", ["eventTypes", "1"]),
        ("INVALID_INPUT", ["eventTypes", "2"]),
    ]
    types = await gql.execute("{ webhookEventTypes { name description } }")
    assert [t["name"] for t in types["webhookEventTypes"]] == list(EVENT_TYPES)


async def test_rotate_returns_a_new_secret(gql: GraphQLClient) -> None:
    endpoint_id, secret = await create_endpoint(gql, "https://ok.example.com/")
    rotated = await gql.mutate(ROTATE, {"i": {"endpointId": endpoint_id}})
    assert rotated["errors"] == [] and rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != secret
    bad = await gql.mutate(ROTATE, {"i": {"endpointId": endpoint_id, "graceHours": 1000}})
    assert bad["errors"] == [{"code": "INVALID_INPUT", "field": ["graceHours"]}]


async def test_client_key_is_forbidden(gql: GraphQLClient, tenant: Tenant) -> None:
    endpoint_id, _ = await create_endpoint(gql, "https://ok.example.com/")
    client = gql.with_key(tenant.client_key)
    operations: list[tuple[str, dict[str, Any] | None]] = [
        (CREATE, {"i": {"url": "https://ok.example.com/"}}),
        (UPDATE, {"i": {"endpointId": endpoint_id, "enabled": False}}),
        (DELETE, {"i": {"endpointId": endpoint_id}}),
        (ROTATE, {"i": {"endpointId": endpoint_id}}),
        (
            """mutation { replayWebhookDelivery(input: {deliveryId: "x"}) { errors { code } } }""",
            None,
        ),
        (LIST, None),
        (ONE, {"id": endpoint_id}),
        ("{ webhookDeliveries { totalCount } }", None),
        ("{ webhookEventTypes { name } }", None),
    ]
    for query, variables in operations:
        body = (await client.post(query, variables)).json()
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (query, body)
    listed = (await gql.execute(LIST))["webhookEndpoints"]["edges"][0]["node"]
    assert listed["enabled"] is True  # nothing changed
