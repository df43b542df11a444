"""Features through GraphQL: the three types, meters, updates, archiving, pagination."""

from __future__ import annotations

from typing import Any

import pytest

from tests.graphql.catalog_helpers import (
    FEATURE_FIELDS,
    call,
    ids,
    ok,
    plan,
    refused,
    snapshot,
    standard_catalog,
    top_level_error,
)
from tests.support import GraphQLClient

CREATE_FEATURE = (
    "mutation($input: CreateFeatureInput!) { createFeature(input: $input) { errors { code } } }"
)


async def test_boolean_feature(gql: GraphQLClient) -> None:
    feature = await ok(gql, "createFeature", {"id": "sso", "type": "BOOLEAN", "name": "SSO"})
    assert feature["id"] == "sso"
    assert feature["name"] == "SSO"
    assert feature["type"] == "BOOLEAN"
    assert feature["valueType"] is None
    assert feature["unit"] is None
    assert feature["meter"] is None
    assert feature["isArchived"] is False
    query = f'{{ feature(id: "sso") {{ {FEATURE_FIELDS} }} }}'
    assert (await gql.execute(query))["feature"] == feature


async def test_name_defaults_to_the_id(gql: GraphQLClient) -> None:
    feature = await ok(gql, "createFeature", {"id": "audit-log", "type": "BOOLEAN"})
    assert feature["name"] == "audit-log"
    assert feature["description"] == ""


async def test_configuration_number_is_the_default_value_type(gql: GraphQLClient) -> None:
    feature = await ok(gql, "createFeature", {"id": "retention", "type": "CONFIGURATION"})
    assert feature["valueType"] == "NUMBER"
    assert feature["enumValues"] is None


async def test_configuration_enum(gql: GraphQLClient) -> None:
    feature = await ok(
        gql,
        "createFeature",
        {
            "id": "region",
            "type": "CONFIGURATION",
            "valueType": "ENUM",
            "enumValues": ["eu", "us"],
            "description": "Where data lives",
        },
    )
    assert (feature["valueType"], feature["enumValues"]) == ("ENUM", ["eu", "us"])
    assert feature["description"] == "Where data lives"


async def test_metered_with_calculated_usage(gql: GraphQLClient) -> None:
    feature = await ok(
        gql,
        "createFeature",
        {"id": "seats", "type": "METERED", "unit": "seat", "unitPlural": "seats"},
    )
    assert (feature["unit"], feature["unitPlural"], feature["meter"]) == ("seat", "seats", None)


@pytest.mark.parametrize("aggregation", ["SUM", "MAX", "UNIQUE_COUNT", "LATEST"])
async def test_metered_with_a_meter_aggregating_a_field(
    gql: GraphQLClient, aggregation: str
) -> None:
    meter = {"eventName": "upload", "aggregation": aggregation, "field": "bytes"}
    feature = await ok(gql, "createFeature", {"id": "storage", "type": "METERED", "meter": meter})
    assert feature["meter"] == {**meter, "filters": []}


async def test_count_meter_with_every_filter_operator(gql: GraphQLClient) -> None:
    filters = [
        {"dimension": "method", "operator": "EQUALS", "values": ["POST"]},
        {"dimension": "status", "operator": "NOT_EQUALS", "values": ["500"]},
        {"dimension": "region", "operator": "IN", "values": ["eu", "us"]},
        {"dimension": "path", "operator": "NOT_IN", "values": ["/health"]},
    ]
    feature = await ok(
        gql,
        "createFeature",
        {
            "id": "api-calls",
            "type": "METERED",
            "meter": {"eventName": "api_call", "filters": filters},
        },
    )
    assert feature["meter"] == {
        "eventName": "api_call",
        "aggregation": "COUNT",
        "field": None,
        "filters": filters,
    }


async def test_filter_operator_defaults_to_in(gql: GraphQLClient) -> None:
    meter = {"eventName": "e", "filters": [{"dimension": "d", "values": ["a", "b"]}]}
    feature = await ok(gql, "createFeature", {"id": "m", "type": "METERED", "meter": meter})
    assert feature["meter"]["filters"][0]["operator"] == "IN"


BAD_FEATURES: list[tuple[str, dict[str, Any], str, list[str]]] = [
    ("empty id", {"id": "", "type": "BOOLEAN"}, "INVALID_INPUT", ["id"]),
    ("space in id", {"id": "a b", "type": "BOOLEAN"}, "INVALID_INPUT", ["id"]),
    ("leading dash", {"id": "-a", "type": "BOOLEAN"}, "INVALID_INPUT", ["id"]),
    ("trailing newline", {"id": "sso\n", "type": "BOOLEAN"}, "INVALID_INPUT", ["id"]),
    ("id too long", {"id": "a" * 101, "type": "BOOLEAN"}, "INVALID_INPUT", ["id"]),
    ("name too long", {"id": "a", "type": "BOOLEAN", "name": "n" * 201}, "INVALID_INPUT", ["name"]),
    ("unit on boolean", {"id": "a", "type": "BOOLEAN", "unit": "x"}, "INVALID_INPUT", ["unit"]),
    (
        "meter on configuration",
        {"id": "a", "type": "CONFIGURATION", "meter": {"eventName": "e"}},
        "INVALID_INPUT",
        ["meter"],
    ),
    (
        "valueType on metered",
        {"id": "a", "type": "METERED", "valueType": "NUMBER"},
        "INVALID_INPUT",
        ["valueType"],
    ),
    (
        "enumValues on a NUMBER feature",
        {"id": "a", "type": "CONFIGURATION", "enumValues": ["x"]},
        "INVALID_INPUT",
        ["enumValues"],
    ),
    (
        "ENUM without values",
        {"id": "a", "type": "CONFIGURATION", "valueType": "ENUM"},
        "INVALID_INPUT",
        ["enumValues"],
    ),
    (
        "ENUM with an empty list",
        {"id": "a", "type": "CONFIGURATION", "valueType": "ENUM", "enumValues": []},
        "INVALID_INPUT",
        ["enumValues"],
    ),
    (
        "ENUM with duplicates",
        {"id": "a", "type": "CONFIGURATION", "valueType": "ENUM", "enumValues": ["x", "x"]},
        "INVALID_INPUT",
        ["enumValues"],
    ),
    (
        "meter without an event name",
        {"id": "a", "type": "METERED", "meter": {"eventName": "  "}},
        "INVALID_INPUT",
        ["meter", "eventName"],
    ),
    (
        "SUM without a field",
        {"id": "a", "type": "METERED", "meter": {"eventName": "e", "aggregation": "SUM"}},
        "INVALID_INPUT",
        ["meter", "field"],
    ),
    (
        "COUNT with a field",
        {"id": "a", "type": "METERED", "meter": {"eventName": "e", "field": "bytes"}},
        "INVALID_INPUT",
        ["meter", "field"],
    ),
    (
        "EQUALS with two values",
        {
            "id": "a",
            "type": "METERED",
            "meter": {
                "eventName": "e",
                "filters": [{"dimension": "d", "operator": "EQUALS", "values": ["1", "2"]}],
            },
        },
        "INVALID_INPUT",
        ["meter", "filters", "0", "values"],
    ),
    (
        "filter without values",
        {
            "id": "a",
            "type": "METERED",
            "meter": {"eventName": "e", "filters": [{"dimension": "d", "values": []}]},
        },
        "INVALID_INPUT",
        ["meter", "filters", "0", "values"],
    ),
]


@pytest.mark.parametrize(
    ("raw", "code", "field"), [c[1:] for c in BAD_FEATURES], ids=[c[0] for c in BAD_FEATURES]
)
async def test_invalid_feature_is_refused(
    gql: GraphQLClient, raw: dict[str, Any], code: str, field: list[str]
) -> None:
    await ok(gql, "createFeature", {"id": "existing", "type": "BOOLEAN"})
    await refused(gql, "createFeature", raw, code, field)


async def test_duplicate_feature_id(gql: GraphQLClient) -> None:
    await ok(gql, "createFeature", {"id": "seats", "type": "METERED"})
    await refused(gql, "createFeature", {"id": "seats", "type": "BOOLEAN"}, "DUPLICATE_ID", ["id"])


async def test_unknown_enum_type_is_a_graphql_error(gql: GraphQLClient) -> None:
    before = await snapshot(gql)
    error = await top_level_error(
        gql,
        CREATE_FEATURE,
        {"input": {"id": "a", "type": "COLOR"}},
    )
    assert "COLOR" in error["message"]
    assert await snapshot(gql) == before


async def test_update_feature(gql: GraphQLClient) -> None:
    created = await ok(
        gql,
        "createFeature",
        {"id": "calls", "type": "METERED", "unit": "call", "meter": {"eventName": "call"}},
    )
    updated = await ok(
        gql,
        "updateFeature",
        {
            "id": "calls",
            "name": "API calls",
            "description": "Requests to the API",
            "meter": {"eventName": "request", "aggregation": "UNIQUE_COUNT", "field": "user"},
        },
    )
    assert updated["name"] == "API calls"
    assert updated["description"] == "Requests to the API"
    assert updated["unit"] == "call"  # omitted: kept
    assert updated["meter"] == {
        "eventName": "request",
        "aggregation": "UNIQUE_COUNT",
        "field": "user",
        "filters": [],
    }
    assert updated["updatedAt"] > created["updatedAt"]
    assert updated["createdAt"] == created["createdAt"]
    removed = await ok(gql, "updateFeature", {"id": "calls", "meter": None, "unit": None})
    assert (removed["meter"], removed["unit"]) == (None, None)


async def test_update_enum_values(gql: GraphQLClient) -> None:
    await standard_catalog(gql)
    updated = await ok(
        gql, "updateFeature", {"id": "region", "enumValues": ["eu", "us", "apac", "sa"]}
    )
    assert updated["enumValues"] == ["eu", "us", "apac", "sa"]


async def test_update_without_changes_keeps_updated_at(gql: GraphQLClient) -> None:
    created = await ok(gql, "createFeature", {"id": "sso", "type": "BOOLEAN", "name": "SSO"})
    again = await ok(gql, "updateFeature", {"id": "sso", "name": "SSO"})
    assert again == created


async def test_update_feature_failures(gql: GraphQLClient) -> None:
    await standard_catalog(gql)
    await plan(gql, "pro", entitlements=[{"featureId": "region", "enumValues": ["eu"]}])
    await refused(gql, "updateFeature", {"id": "nope", "name": "x"}, "FEATURE_NOT_FOUND", ["id"])
    await refused(
        gql, "updateFeature", {"id": "sso", "meter": {"eventName": "e"}}, "INVALID_INPUT", ["meter"]
    )
    await refused(
        gql, "updateFeature", {"id": "region", "enumValues": []}, "INVALID_INPUT", ["enumValues"]
    )
    # "eu" is granted by plan pro: removing it would break the plan.
    await refused(
        gql,
        "updateFeature",
        {"id": "region", "enumValues": ["us"]},
        "INVALID_INPUT",
        ["enumValues"],
    )


async def test_archive_feature(gql: GraphQLClient) -> None:
    await ok(gql, "createFeature", {"id": "sso", "type": "BOOLEAN"})
    await ok(gql, "createFeature", {"id": "seats", "type": "METERED"})
    archived = await ok(gql, "archiveFeature", {"id": "sso"})
    assert archived["isArchived"] is True
    listed = await gql.execute("{ features { totalCount edges { node { id } } } }")
    assert (ids(listed["features"]), listed["features"]["totalCount"]) == (["seats"], 1)
    everything = await gql.execute(
        "{ features(includeArchived: true) { totalCount edges { node { id isArchived } } } }"
    )
    assert ids(everything["features"]) == ["seats", "sso"]
    assert everything["features"]["totalCount"] == 2
    one = await gql.execute('{ feature(id: "sso") { isArchived } }')
    assert one == {"feature": {"isArchived": True}}
    # Archiving again is harmless; the id stays taken.
    assert (await ok(gql, "archiveFeature", {"id": "sso"}))["isArchived"] is True
    await refused(gql, "createFeature", {"id": "sso", "type": "BOOLEAN"}, "DUPLICATE_ID", ["id"])


async def test_archived_feature_cannot_be_granted(gql: GraphQLClient) -> None:
    await standard_catalog(gql)
    await ok(gql, "archiveFeature", {"id": "sso"})
    await refused(
        gql,
        "createPlan",
        {"id": "pro", "productId": "app", "entitlements": [{"featureId": "sso"}]},
        "FEATURE_NOT_FOUND",
        ["entitlements", "sso"],
    )


async def test_archive_feature_failures(gql: GraphQLClient) -> None:
    await standard_catalog(gql)
    await plan(gql, "pro", entitlements=[{"featureId": "sso"}])
    await refused(gql, "archiveFeature", {"id": "nope"}, "FEATURE_NOT_FOUND", ["id"])
    await refused(gql, "archiveFeature", {"id": "sso"}, "INVALID_INPUT", ["id"])


async def test_feature_priced_by_a_plan_cannot_be_archived(gql: GraphQLClient) -> None:
    await standard_catalog(gql)
    price = {"model": "USAGE_BASED", "featureId": "api-calls", "amount": "0.01", "currency": "USD"}
    await plan(gql, "pro", prices=[price])
    await refused(gql, "archiveFeature", {"id": "api-calls"}, "INVALID_INPUT", ["id"])


async def test_feature_only_in_an_old_version_can_be_archived(gql: GraphQLClient) -> None:
    await standard_catalog(gql)
    await plan(gql, "pro", entitlements=[{"featureId": "sso"}], publish=True)
    await ok(gql, "updatePlan", {"id": "pro", "entitlements": [{"featureId": "seats", "limit": 5}]})
    await ok(gql, "publishPlan", {"id": "pro"})
    await ok(gql, "updatePlan", {"id": "pro", "entitlements": [{"featureId": "seats", "limit": 6}]})
    await ok(gql, "publishPlan", {"id": "pro"})
    # v1 granted sso; v2 and v3 do not: old versions are frozen and do not block archiving.
    assert (await ok(gql, "archiveFeature", {"id": "sso"}))["isArchived"] is True


async def test_unknown_feature_reads_as_null(gql: GraphQLClient) -> None:
    assert await gql.execute('{ feature(id: "nope") { id } }') == {"feature": None}


async def test_client_key_reads_but_cannot_write(gql: GraphQLClient, tenant: Any) -> None:
    await ok(gql, "createFeature", {"id": "sso", "type": "BOOLEAN"})
    client = gql.with_key(tenant.client_key)
    data = await client.execute("{ features { totalCount } }")
    assert data == {"features": {"totalCount": 1}}
    response = await client.post(
        'mutation { createFeature(input: {id: "x", type: BOOLEAN}) { errors { code } } }'
    )
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await gql.execute("{ features { totalCount } }"))["features"]["totalCount"] == 1


async def test_nothing_to_update_on_unknown_input_fields(gql: GraphQLClient) -> None:
    """Options the schema does not know are refused by GraphQL itself."""
    before = await snapshot(gql)
    error = await top_level_error(
        gql,
        CREATE_FEATURE,
        {"input": {"id": "a", "type": "BOOLEAN", "color": "red"}},
    )
    assert "color" in error["message"]
    assert await snapshot(gql) == before
    assert (await call(gql, "createFeature", {"id": "a", "type": "BOOLEAN"}))["errors"] == []
