"""Every mutation records who, what, which entity, before and after — in its transaction."""

from __future__ import annotations

from tests.graphql.entitlements.catalog import apply_catalog, new_customer, provision
from tests.support import GraphQLClient

AUDIT = """query($t: String, $id: String, $op: String) {
  auditLog(first: 50, entityType: $t, entityId: $id, operation: $op) { totalCount
    edges { node { operation entityType entityId action actorKind actorKeyId requestId
                   before after } } } }"""


async def _log(gql: GraphQLClient, **filters: str) -> list[dict]:  # type: ignore[type-arg]
    data = await gql.execute(AUDIT, {"t": filters.get("t"), "id": filters.get("id"),
                                     "op": filters.get("op")})
    return [e["node"] for e in data["auditLog"]["edges"]]


async def test_feature_create_and_update_are_recorded(gql: GraphQLClient) -> None:
    await gql.mutate('mutation { createFeature(input: {id: "sso", type: BOOLEAN}) '
                     "{ errors { code } } }")
    await gql.mutate('mutation { updateFeature(input: {id: "sso", name: "Single sign-on"}) '
                     "{ errors { code } } }")
    entries = await _log(gql, t="FEATURE", id="sso")
    assert [(e["operation"], e["action"]) for e in entries] == [
        ("updateFeature", "UPDATE"), ("createFeature", "CREATE")]
    update = entries[0]
    assert update["before"]["name"] == "sso" and update["after"]["name"] == "Single sign-on"
    assert update["actorKind"] == "server" and update["actorKeyId"] and update["requestId"]
    assert entries[1]["before"] is None


async def test_failed_mutation_records_nothing(gql: GraphQLClient) -> None:
    before = await _log(gql)
    payload = await gql.mutate('mutation { createFeature(input: {id: "bad id!", type: BOOLEAN})'
                               " { errors { code } } }")
    assert payload["errors"]
    assert await _log(gql) == before


async def test_subscription_changes_are_recorded(gql: GraphQLClient) -> None:
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    payload = await provision(gql, customerId="acme", planId="pro", skipTrial=True)
    sub_id = payload["subscription"]["id"]
    entries = await _log(gql, t="SUBSCRIPTION", id=sub_id)
    assert entries[0]["operation"] == "provisionSubscription"
    assert entries[0]["action"] == "UPDATE"  # an upgrade changes the free subscription
    assert entries[0]["after"]["planVersion"] == 1
    assert any(e["entityType"] == "CUSTOMER" for e in await _log(gql, op="provisionCustomer"))


async def test_api_key_secrets_never_logged(gql: GraphQLClient) -> None:
    await gql.mutate("mutation { createApiKey(input: {kind: CLIENT}) { secret } }")
    entries = await _log(gql, t="API_KEY")
    assert entries
    assert all(not {"key_hash", "keyHash"} & set(e["after"] or {}) for e in entries)
