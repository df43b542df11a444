"""The compiled fast path for `entitlement` answers exactly as the normal executor does."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from app.resolvers.root import build_schema
from app.web.graphql import Services
from tests.graphql.entitlements.catalog import apply_catalog, new_customer, provision
from tests.support import GraphQLClient, Tenant


def _leaf_fields(type_name: str) -> list[str]:
    """The scalar and enum fields of `type_name`, read from the schema by introspection (as a
    client sees them), and `__typename`: a field added to the type is exercised here at once."""
    schema = build_schema()
    result = schema.execute_sync(
        "query($n: String!) { __type(name: $n) { fields { name type { kind ofType { kind "
        "ofType { kind ofType { kind } } } } } } }",
        variable_values={"n": type_name},
    )
    assert result.errors is None and result.data is not None, result.errors
    leaves = []
    for field in result.data["__type"]["fields"]:
        kind = field["type"]
        while kind.get("ofType"):
            kind = kind["ofType"]
        if kind["kind"] in ("SCALAR", "ENUM"):
            leaves.append(field["name"])
    return [*leaves, "__typename"]


ENTITLEMENT_FIELDS = _leaf_fields("Entitlement")
SOURCE_FIELDS = _leaf_fields("EntitlementSource")
ALL = " ".join(ENTITLEMENT_FIELDS) + " sources { " + " ".join(SOURCE_FIELDS) + " }"
CASES = [
    ("acme", "seats", 3.0, None),
    ("acme", "seats", 40.0, None),
    ("acme", "sso", None, None),
    ("acme", "regions", None, ["eu", "us"]),
    ("acme", "regions", None, ["ap"]),
    ("acme", "retention-days", None, None),
    ("acme", "api-calls", 1.0, None),
    ("acme", "nope", None, None),
    ("nobody", "seats", None, None),
    ("plain", "audit-log", None, None),
]


@pytest.fixture
async def world(gql: GraphQLClient, app: Starlette, tenant: Tenant) -> tuple[Services, Any]:
    await apply_catalog(gql)
    await new_customer(gql, "acme")
    payload = await provision(
        gql, customerId="acme", planId="pro", addons=[{"addonId": "extra-seats", "quantity": 2}]
    )
    assert payload["errors"] == [], payload
    await new_customer(gql, "plain")
    services: Services = app.state.services
    principal = await services.authenticate(_Request(tenant.server_key))
    assert principal is not None
    return services, principal


class _Request:
    def __init__(self, key: str) -> None:
        self.headers = {"authorization": f"Bearer {key}"}


async def _both(
    services: Services, principal: Any, query: str, variables: dict[str, Any] | None
) -> tuple[Any, Any]:
    plan = services.fast_path.plan_for(query, None)
    assert plan is not None, query
    fast = await services.fast_path.run(plan, variables, services.context(principal, "t"))
    normal = await services.schema.execute(
        query, variable_values=variables, context_value=services.context(principal, "t")
    )
    assert normal.errors is None, normal.errors
    return fast, {"data": normal.data}


async def test_every_field_matches(world: tuple[Services, Any]) -> None:
    services, principal = world
    query = (
        "query($c: String!, $f: String!, $n: Float, $v: [String!]) { entitlement("
        "customerId: $c, featureId: $f, requestedUsage: $n, requestedValues: $v) { " + ALL + " } }"
    )
    for customer, feature, requested, values in CASES:
        fast, normal = await _both(
            services, principal, query, {"c": customer, "f": feature, "n": requested, "v": values}
        )
        assert fast == normal


async def test_literals_and_aliases_match(world: tuple[Services, Any]) -> None:
    services, principal = world
    query = (
        '{ check: entitlement(customerId: "acme", featureId: "seats", requestedUsage: 5) '
        "{ ok: hasAccess limit: usageLimit sources { k: kind e: isEffective } } }"
    )
    fast, normal = await _both(services, principal, query, None)
    assert fast == normal and fast["data"]["check"]["ok"] is True


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fields=st.lists(st.sampled_from(ENTITLEMENT_FIELDS), min_size=1, unique=True),
    sources=st.lists(st.sampled_from(SOURCE_FIELDS), unique=True),
    case=st.sampled_from(CASES),
)
async def test_any_selection_matches(
    world: tuple[Services, Any], fields: list[str], sources: list[str], case: tuple[Any, ...]
) -> None:
    services, principal = world
    selection = " ".join(fields) + (" sources { " + " ".join(sources) + " }" if sources else "")
    query = (
        "query($c: String!, $f: String!, $n: Float, $v: [String!]) { entitlement("
        "customerId: $c, featureId: $f, requestedUsage: $n, requestedValues: $v) { "
        + selection
        + " } }"
    )
    customer, feature, requested, values = case
    fast, normal = await _both(
        services, principal, query, {"c": customer, "f": feature, "n": requested, "v": values}
    )
    assert fast == normal


@pytest.mark.parametrize(
    "query",
    [
        '{ entitlement(customerId: "a", featureId: "b") { feature { id } } }',
        '{ entitlement(customerId: "a", featureId: "b") { ...F } } '
        "fragment F on Entitlement { hasAccess }",
        '{ entitlement(customerId: "a", featureId: "b") { hasAccess } environment { slug } }',
        '{ entitlement(customerId: "a", featureId: "b") { hasAccess @include(if: true) } }',
        '{ entitlement(customerId: "a", featureId: "b") { hasAccess hasAccess } }',
        '{ entitlement(customerId: "a") { hasAccess } }',
        '{ entitlements(customerId: "a") { hasAccess } }',
        "{ __typename }",
    ],
)
def test_other_shapes_take_the_normal_path(app: Starlette, query: str) -> None:
    services: Services = app.state.services
    assert services.fast_path.plan_for(query, None) is None


async def test_http_answers_through_the_fast_path(
    gql: GraphQLClient, world: tuple[Services, Any]
) -> None:
    data = await gql.execute(
        '{ entitlement(customerId: "acme", featureId: "seats") { hasAccess usageLimit } }'
    )
    assert data == {"entitlement": {"hasAccess": True, "usageLimit": 20.0}}
    bad = await gql.post(
        'query($c: String!) { entitlement(customerId: $c, featureId: "x") { hasAccess } }', {"c": 5}
    )
    assert bad.status_code == 400 and bad.json()["errors"]


REPORT = (
    "mutation($i: ReportUsageInput!) { reportUsage(input: $i) { accepted "
    "usage { customerId featureId resourceId currentUsage usageLimit periodStart "
    "periodEnd __typename } errors { code message field } __typename } }"
)


async def test_report_usage_matches_and_replays_across_paths(world: tuple[Services, Any]) -> None:
    """A report through one path and its retry through the other: one count, one answer."""
    services, principal = world
    plan = services.fast_path.plan_for(REPORT, None)
    assert plan is not None
    for first_fast in (True, False):
        item = {
            "customerId": "acme",
            "featureId": "seats",
            "value": 2,
            "idempotencyKey": f"fp-{first_fast}",
        }
        answers = []
        for fast in (first_fast, not first_fast):
            if fast:
                answers.append(
                    await services.fast_path.run(
                        plan, {"i": item}, services.context(principal, "t")
                    )
                )
            else:
                normal = await services.schema.execute(
                    REPORT,
                    variable_values={"i": item},
                    context_value=services.context(principal, "t"),
                )
                assert normal.errors is None, normal.errors
                answers.append({"data": normal.data})
        assert answers[0] == answers[1]
        assert answers[0] is not None and answers[0]["data"]["reportUsage"]["accepted"] is True
    for bad in (
        {"customerId": "nobody", "featureId": "seats", "value": 1},
        {"customerId": "acme", "featureId": "sso", "value": 1},
        {"customerId": "acme", "featureId": "seats", "value": -1, "mode": "SET"},
        {"customerId": "acme", "featureId": "seats", "value": 999, "consume": True},
    ):
        fast_answer = await services.fast_path.run(
            plan, {"i": bad}, services.context(principal, "t")
        )
        normal = await services.schema.execute(
            REPORT, variable_values={"i": bad}, context_value=services.context(principal, "t")
        )
        assert fast_answer == {"data": normal.data}
        assert fast_answer is not None and fast_answer["data"]["reportUsage"]["errors"]


async def test_client_keys_are_refused_on_the_normal_path(
    world: tuple[Services, Any], tenant: Tenant, gql: GraphQLClient
) -> None:
    client = gql.with_key(tenant.client_key)
    response = await client.post(
        REPORT, {"i": {"customerId": "acme", "featureId": "seats", "value": 1}}
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_failing_mutation_is_never_run_twice(
    world: tuple[Services, Any], gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mutation that fails after it started may have written: the fast path answers the
    executor's masked internal error instead of handing the request to the executor (which
    would run it again)."""
    from app.domain.usage import batch as usage_batch

    calls = []

    async def broken(*args: Any) -> Any:
        calls.append(args)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(usage_batch, "record_batch", broken)
    item = {"customerId": "acme", "featureId": "seats", "value": 1}
    fast = (await gql.post(REPORT, {"i": item})).json()
    assert len(calls) == 1
    # The same failure through the executor (a fragment keeps it off the fast path).
    executor_query = REPORT.replace("__typename } }", "...P } } fragment P on ReportUsagePayload"
                                    " { __typename }")
    normal = (await gql.post(executor_query, {"i": item})).json()
    assert len(calls) == 2

    def shape(body: dict[str, Any]) -> Any:
        return body["data"], [
            (e["message"], e["path"], e["extensions"]["code"], "requestId" in e["extensions"])
            for e in body["errors"]
        ]

    assert shape(fast) == shape(normal) == (
        None, [("Internal server error.", ["reportUsage"], "INTERNAL_SERVER_ERROR", True)])
    assert "database went away" not in str(fast)


async def test_report_usage_request_is_built_by_the_resolver_s_own_function(
    world: tuple[Services, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both paths turn the input into the domain's request with `ReportUsageInput.to_dict`
    (the fast path runs the resolver itself), so an idempotency digest cannot differ."""
    from app.resolvers.usage import ReportUsageInput

    services, principal = world
    built: list[tuple[Any, dict[str, Any]]] = []
    original = ReportUsageInput.to_dict

    def recording(self: ReportUsageInput) -> dict[str, Any]:
        request = original(self)
        built.append((self, request))
        return request

    monkeypatch.setattr(ReportUsageInput, "to_dict", recording)
    item = {"customerId": "acme", "featureId": "seats", "value": 1, "idempotencyKey": "one"}
    plan = services.fast_path.plan_for(REPORT, None)
    assert plan is not None
    fast = await services.fast_path.run(plan, {"i": item}, services.context(principal, "t"))
    normal = await services.schema.execute(
        REPORT, variable_values={"i": item}, context_value=services.context(principal, "t")
    )
    assert fast == {"data": normal.data}
    assert [type(given) for given, _ in built] == [ReportUsageInput, ReportUsageInput]
    assert built[0][1] == built[1][1]


HISTORY_FIELDS = " ".join(_leaf_fields("UsagePeriod"))
HOURLY_CATALOG: dict[str, Any] = {
    "features": [{"id": "hourly", "type": "METERED"}, {"id": "total", "type": "METERED"}],
    "products": [{"id": "p", "name": "P", "multipleSubscriptions": False, "plans": [{
        "id": "h", "pricingType": "FREE", "entitlements": {
            "hourly": {"limit": 10, "resetPeriod": "HOUR"}, "total": {"limit": 5}}}]}],
}


async def test_usage_history_matches_and_takes_the_fast_path(
    gql: GraphQLClient, app: Starlette, tenant: Tenant
) -> None:
    """`usageHistory` (a list of plain objects: the fast path writes it with the schema's
    serialisers) answers exactly as the executor, for every field of `UsagePeriod`."""
    await apply_catalog(gql, HOURLY_CATALOG)
    await new_customer(gql, "hist", subscription={"planId": "h"})
    for feature in ("hourly", "total"):
        report = await gql.mutate(
            "mutation($i: ReportUsageInput!) { reportUsage(input: $i) { accepted errors "
            "{ code } } }", {"i": {"customerId": "hist", "featureId": feature, "value": 2}})
        assert report["accepted"] is True, report
    services: Services = app.state.services
    principal = await services.authenticate(_Request(tenant.server_key))
    query = (
        "query($c: String!, $f: String!, $from: DateTime!) { usageHistory(customerId: $c, "
        "featureId: $f, from: $from) { " + HISTORY_FIELDS + " } }"
    )
    for feature, start in (("hourly", "2020-01-01T00:00:00Z"), ("total", "2020-01-01T00:00:00Z")):
        fast, normal = await _both(
            services, principal, query, {"c": "hist", "f": feature, "from": start})
        assert fast == normal and fast is not None
        assert fast["data"]["usageHistory"][-1]["usage"] == 2.0
    # A refusal or an error is the executor's to answer.
    plan = services.fast_path.plan_for(query, None)
    assert plan is not None
    client = await services.authenticate(_Request(tenant.client_key))
    assert client is not None
    assert await services.fast_path.run(
        plan, {"c": "hist", "f": "hourly", "from": "2020-01-01T00:00:00Z"},
        services.context(client, "t")) is None
    refused = await gql.with_key(tenant.client_key).post(
        query, {"c": "hist", "f": "hourly", "from": "2020-01-01T00:00:00Z"})
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    missing = await gql.post(query, {"c": "nobody", "f": "hourly", "from": "2020-01-01T00:00:00Z"})
    assert missing.json()["errors"][0]["extensions"]["code"] == "CUSTOMER_NOT_FOUND"


STATE_FIELDS = (
    " ".join(f for f in _leaf_fields("EntitlementsState"))
    + " entitlements { " + ALL + " } usageVersions { " + " ".join(_leaf_fields("UsageVersion"))
    + " }"
)


async def test_entitlements_state_matches_and_takes_the_fast_path(
    world: tuple[Services, Any],
) -> None:
    """`entitlementsState` (what the SDK loads: an answer per feature) answers exactly as the
    executor, for every field of the state, its entitlements and their sources."""
    services, principal = world
    query = (
        "query($c: String!) { entitlementsState(customerId: $c) { " + STATE_FIELDS + " } }"
    )
    for customer in ("acme", "plain", "nobody"):
        fast, normal = await _both(services, principal, query, {"c": customer})
        assert fast is not None
        # `computedAt` is when each was read: the two reads are a moment apart.
        for answer in (fast, normal):
            assert answer["data"]["entitlementsState"].pop("computedAt")
        assert fast == normal, customer
    assert len(fast["data"]["entitlementsState"]["entitlements"]) == 0  # nobody
    acme, _ = await _both(services, principal, query, {"c": "acme"})
    assert {e["featureId"] for e in acme["data"]["entitlementsState"]["entitlements"]} >= {
        "seats", "sso", "regions"}
