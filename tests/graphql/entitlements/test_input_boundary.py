"""The input boundary (issue 9, "One input boundary"): edge dates, NUL bytes and lone
surrogates, JSON that could not be read back, unbounded usage values. Each was reproduced on
`main`: the request was accepted and later reads answered HTTP 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.auth import KeyKind
from app.clock import FrozenClock
from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.store import tenancy as tenancy_store
from app.workers.jobs import run_once
from tests.graphql.entitlements.catalog import apply_catalog, check, new_customer
from tests.graphql.entitlements.conftest import cancel, customer, subscribed
from tests.support import GraphQLClient

PROVISION = """mutation($input: ProvisionSubscriptionInput!) {
  provisionSubscription(input: $input) { subscription { id startDate } errors { code field } } }"""
CUSTOMER_META = """query($id: String!) { customer(id: $id) { id metadata } }"""
PROVISION_META = """mutation($input: ProvisionCustomerInput!) {
  provisionCustomer(input: $input) { customer { id metadata } errors { code field } } }"""
AUDIT = """{ auditLog(first: 50, entityType: "CUSTOMER") { edges { node { before after } } } }"""


def top_level_codes(response: httpx.Response) -> list[str]:
    body = response.json()
    assert response.status_code < 500, body
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def refused_as_invalid(response: httpx.Response) -> None:
    """A top-level INVALID_INPUT (the argument did not pass the boundary): HTTP 400."""
    assert response.status_code == 400, response.json()
    codes = top_level_codes(response)
    assert codes and set(codes) == {"INVALID_INPUT"}, response.json()


async def post_raw(gql: GraphQLClient, body: str) -> httpx.Response:
    """A body written by hand: JSON encoders refuse the nesting some tests send."""
    return await gql.http.post(
        "/graphql",
        content=body.encode(),
        headers={"Authorization": f"Bearer {gql.key}", "Content-Type": "application/json"},
    )


@pytest.fixture
async def acme(tgql: GraphQLClient) -> dict[str, Any]:
    await apply_catalog(tgql)
    await new_customer(tgql, "acme")
    return await subscribed(tgql, customerId="acme", planId="pro", skipTrial=True)


async def _client_key(db: Database, gql: GraphQLClient) -> str:
    """A client (publishable) key of the environment `gql`'s server key belongs to."""
    pool = await db.pool()
    async with pool.acquire() as conn:
        principal = await tenancy_store.principal_for_key(conn, gql.key or "")
    assert principal is not None
    async with audit.transaction(db, AuditActor.cli("tests: client key")) as session:
        _, secret = await tenancy_store.create_api_key(
            session, principal.environment_pk, KeyKind.CLIENT
        )
    return secret


# --- dates --------------------------------------------------------------------------------------

EDGE_DATES = [
    "0001-01-01T00:00:00Z",  # stored as -infinity on main
    "9999-12-31T23:59:59.999999Z",  # stored as infinity on main
    "1969-12-31T23:59:59Z",
    "2200-01-01T00:00:00.000001Z",
]


@pytest.mark.parametrize("date", EDGE_DATES)
async def test_edge_start_dates_are_refused_and_nothing_breaks(
    tgql: GraphQLClient, db: Database, clock: FrozenClock, acme: dict[str, Any], date: str
) -> None:
    client_key = await _client_key(db, tgql)
    request = {"customerId": "acme", "planId": "pro", "subscriptionId": "edge", "startDate": date}
    refused_as_invalid(await tgql.post(PROVISION, {"input": request}))
    literal = f'mutation {{ provisionSubscription(input: {{customerId: "acme", planId: "pro", \
startDate: "{date}"}}) {{ errors {{ code }} }} }}'
    refused_as_invalid(await tgql.post(literal))
    found = await customer(tgql, "acme")
    assert found is not None and [s["id"] for s in found["subscriptions"]] == [acme["id"]]
    assert (await check(tgql, "acme", "seats"))["hasAccess"]
    # The client-key check, the REST route and the background job all still answer.
    assert (await check(tgql.with_key(client_key), "acme", "seats"))["hasAccess"]
    rest = await tgql.http.get(
        "/v1/customers/acme/entitlements/seats", headers={"Authorization": f"Bearer {tgql.key}"}
    )
    assert rest.status_code == 200 and rest.json()["hasAccess"]
    await run_once(db, clock)


@pytest.mark.parametrize("date", EDGE_DATES)
async def test_edge_cancel_dates_are_refused(
    tgql: GraphQLClient, acme: dict[str, Any], date: str
) -> None:
    response = await tgql.post(
        """mutation($i: CancelSubscriptionInput!) { cancelSubscription(input: $i) {
        errors { code } } }""",
        {"i": {"subscriptionId": acme["id"], "at": "DATE", "date": date}},
    )
    refused_as_invalid(response)
    # The subscription is as it was, and can still be canceled on a date within the bounds.
    payload = await cancel(
        tgql, subscriptionId=acme["id"], at="DATE", date="2199-12-31T00:00:00+00:00"
    )
    assert payload["errors"] == [] and payload["subscription"]["endDate"].startswith("2199-12-31")
    assert (await check(tgql, "acme", "seats"))["hasAccess"]


@pytest.mark.parametrize("date", ["infinity", "-infinity", "not a date", "2026-13-01T00:00:00Z"])
async def test_unparseable_date_literals_are_client_errors(
    tgql: GraphQLClient, acme: dict[str, Any], date: str
) -> None:
    """Found by the schema fuzz: a DateTime literal the scalar cannot parse was masked as an
    internal error (the scalar's ValueError, raised during validation, looked unexpected)."""
    response = await tgql.post(
        f'mutation {{ cancelSubscription(input: {{subscriptionId: "{acme["id"]}", at: DATE, '
        f'date: "{date}"}}) {{ errors {{ code }} }} }}'
    )
    assert response.status_code == 400, response.json()
    assert top_level_codes(response) == ["BAD_REQUEST"], response.json()


async def test_the_bounds_themselves_are_accepted(
    tgql: GraphQLClient, acme: dict[str, Any]
) -> None:
    data = await tgql.execute(
        """{ usageHistory(customerId: "acme", featureId: "seats",
             from: "1970-01-01T00:00:00Z", to: "2200-01-01T00:00:00Z") { periodStart } }"""
    )
    assert data["usageHistory"] is not None


async def test_the_database_refuses_infinity(db: Database, acme: dict[str, Any]) -> None:
    import asyncpg

    pool = await db.pool()
    async with pool.acquire() as conn:
        for column in ("end_date", "start_date", "created_at"):
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute(
                    f"UPDATE subscriptions SET {column} = 'infinity' WHERE id = $1", acme["id"]
                )


# --- NUL bytes and lone surrogates --------------------------------------------------------------

NUL_CASES = [
    ("customer", "query($id: String!) { customer(id: $id) { id } }", {"id": "a\u0000b"}),
    (
        "entitlement",
        'query($c: String!) { entitlement(customerId: $c, featureId: "seats") { hasAccess } }',
        {"c": "acme\u0000"},
    ),
    ("provisionCustomer", PROVISION_META, {"input": {"customerId": "x", "name": "N\u0000"}}),
    ("a JSON value", PROVISION_META, {"input": {"customerId": "x", "metadata": {"k": "\u0000"}}}),
    ("a JSON key", PROVISION_META, {"input": {"customerId": "x", "metadata": {"\u0000": 1}}}),
]


@pytest.mark.parametrize(
    ("query", "variables"), [c[1:] for c in NUL_CASES], ids=[c[0] for c in NUL_CASES]
)
async def test_nul_in_variables_is_invalid_input(
    tgql: GraphQLClient, acme: dict[str, Any], query: str, variables: dict[str, Any]
) -> None:
    refused_as_invalid(await tgql.post(query, variables))
    assert await customer(tgql, "x") is None


LITERALS = [
    ('{ customer(id: "a\\u0000b") { id } }', "NUL in an argument"),
    ('{ entitlement(customerId: "acme\\u0000", featureId: "seats") { hasAccess } }', "fast path"),
    (
        'mutation { provisionCustomer(input: {customerId: "x", metadata: {k: "\\u0000"}}) '
        "{ errors { code } } }",
        "NUL in a JSON literal",
    ),
    ('query($id: String = "\\u0000") { customer(id: $id) { id } }', "a variable default"),
]


@pytest.mark.parametrize("query", [q for q, _ in LITERALS], ids=[i for _, i in LITERALS])
async def test_nul_in_literals_is_invalid_input(
    tgql: GraphQLClient, acme: dict[str, Any], query: str
) -> None:
    refused_as_invalid(await tgql.post(query))


async def test_lone_surrogates_are_refused(tgql: GraphQLClient, acme: dict[str, Any]) -> None:
    response = await tgql.post('{ customer(id: "a\\ud800") { id } }')
    assert response.status_code == 400
    assert top_level_codes(response) in (["INVALID_INPUT"], ["BAD_REQUEST"])
    # A raw body with a lone surrogate escape is not JSON we accept (not UTF-8).
    raw = await tgql.http.post(
        "/graphql",
        content=b'{"query": "query($id: String!) { customer(id: $id) { id } }", '
        b'"variables": {"id": "a\\ud800"}}',
        headers={"Authorization": f"Bearer {tgql.key}", "Content-Type": "application/json"},
    )
    assert raw.status_code == 400


async def test_rest_refuses_nul_in_the_path_and_params(
    tgql: GraphQLClient, acme: dict[str, Any]
) -> None:
    headers = {"Authorization": f"Bearer {tgql.key}"}
    for url in (
        "/v1/customers/acme%00/entitlements",
        "/v1/customers/acme%00/entitlements/seats",
        "/v1/customers/acme/entitlements/seats%00",
        "/v1/customers/acme/entitlements/regions?requestedValues=eu%00",
    ):
        response = await tgql.http.get(url, headers=headers)
        assert response.status_code == 400, (url, response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    ok = await tgql.http.get("/v1/customers/acme/entitlements/seats", headers=headers)
    assert ok.status_code == 200 and ok.json()["hasAccess"]


# --- JSON ---------------------------------------------------------------------------------------


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


BAD_JSON = [
    ("1e20", {"n": 1e20}),
    ("2^53 + 2", {"n": 2**53 + 2}),
    ("-1e300", [-1e300]),
    ("33 levels", nested(33)),
    ("over 256 KiB", {"s": "x" * 262_144}),
]


@pytest.mark.parametrize("metadata", [c[1] for c in BAD_JSON], ids=[c[0] for c in BAD_JSON])
async def test_json_that_would_not_read_back_is_refused(
    tgql: GraphQLClient, acme: dict[str, Any], metadata: Any
) -> None:
    response = await tgql.post(PROVISION_META, {"input": {"customerId": "x", "metadata": metadata}})
    refused_as_invalid(response)
    assert await customer(tgql, "x") is None


async def test_json_nested_1000_levels_is_refused(
    tgql: GraphQLClient, acme: dict[str, Any]
) -> None:
    deep = '{"a":' * 1000 + "1" + "}" * 1000
    query = (
        "mutation($input: ProvisionCustomerInput!) { provisionCustomer(input: $input) "
        "{ errors { code } } }"
    )
    variables = f'{{"input": {{"customerId": "x", "metadata": {deep}}}}}'
    body = f'{{"query": "{query}", "variables": {variables}}}'
    response = await post_raw(tgql, body)  # refused by graphql-core's own nesting bound here
    assert response.status_code == 400 and "INTERNAL_SERVER_ERROR" not in response.text
    literal = (
        'mutation { provisionCustomer(input: {customerId: \\"x\\", metadata: '
        + "{a: " * 1000
        + "1"
        + "}" * 1000
        + "}) { errors { code } } }"
    )
    response = await post_raw(tgql, f'{{"query": "{literal}"}}')
    assert response.status_code == 400 and "INTERNAL_SERVER_ERROR" not in response.text
    assert await customer(tgql, "x") is None


async def test_json_literals_are_bounded_too(tgql: GraphQLClient, acme: dict[str, Any]) -> None:
    literal = (
        'mutation { provisionCustomer(input: {customerId: "x", metadata: {n: 1e20}}) '
        "{ errors { code } } }"
    )
    refused_as_invalid(await tgql.post(literal))


async def test_json_within_the_limits_reads_back_as_sent(
    tgql: GraphQLClient, acme: dict[str, Any]
) -> None:
    metadata = {"max": 2**53, "min": -(2**53), "f": 1.5, "deep": nested(31), "s": "é☃😀"}
    payload = await tgql.mutate(
        PROVISION_META, {"input": {"customerId": "x", "metadata": metadata}}
    )
    assert payload["errors"] == [] and payload["customer"]["metadata"] == metadata
    assert (await tgql.execute(CUSTOMER_META, {"id": "x"}))["customer"]["metadata"] == metadata


STORED = [
    ("an integer beyond 64 bits", '{"n": 100000000000000000000}', {"n": 1e20}),
    ("1e308", '{"n": 1e308}', {"n": 1e308}),
    ("1000 levels", "[" * 1000 + "]" * 1000, None),
]


@pytest.mark.parametrize(("stored", "reads"), [c[1:] for c in STORED], ids=[c[0] for c in STORED])
async def test_json_stored_before_the_limits_can_be_read(
    tgql: GraphQLClient, db: Database, acme: dict[str, Any], stored: str, reads: Any
) -> None:
    """Rows written before the boundary existed: every read answers (as much as the
    response encoder can write), and the customer can still be changed and archived."""
    pool = await db.pool()
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE customers SET metadata_ = $1::text::jsonb WHERE id = 'acme'", stored
        )
        await conn.execute(
            "UPDATE audit_log SET after = $1::text::jsonb WHERE entity_type = 'CUSTOMER' "
            "AND entity_id = 'acme'",
            stored,
        )
    metadata = (await tgql.execute(CUSTOMER_META, {"id": "acme"}))["customer"]["metadata"]
    if reads is not None:
        assert metadata == reads
    else:
        assert isinstance(metadata, list)  # cut where the encoder stops, not an error
    entries = (await tgql.execute(AUDIT))["auditLog"]["edges"]
    assert entries
    assert (await check(tgql, "acme", "seats"))["hasAccess"]
    renamed = await tgql.mutate(PROVISION_META, {"input": {"customerId": "acme", "name": "A"}})
    assert renamed["errors"] == []
    archived = await tgql.mutate(
        """mutation { archiveCustomer(input: {customerId: "acme"}) { errors { code } } }"""
    )
    assert archived["errors"] == []
    assert (await tgql.execute(CUSTOMER_META, {"id": "acme"}))["customer"]["metadata"] == metadata


# --- usage values -------------------------------------------------------------------------------

REPORT = """mutation($i: ReportUsageInput!) { reportUsage(input: $i) { accepted
  errors { code field } } }"""


@pytest.mark.parametrize("value", [1e308, -1e308, 1e15 + 1, -2e15])
async def test_usage_values_are_bounded(
    tgql: GraphQLClient, acme: dict[str, Any], value: float
) -> None:
    payload = await tgql.mutate(
        REPORT, {"i": {"customerId": "acme", "featureId": "seats", "value": value}}
    )
    assert not payload["accepted"]
    assert payload["errors"] == [{"code": "INVALID_INPUT", "field": ["value"]}]


async def test_usage_values_up_to_the_bound_are_taken(
    tgql: GraphQLClient, acme: dict[str, Any]
) -> None:
    payload = await tgql.mutate(
        REPORT, {"i": {"customerId": "acme", "featureId": "seats", "value": 1e15, "mode": "SET"}}
    )
    assert payload["accepted"], payload


async def test_dates_without_a_time_zone_never_fail_a_query(
    tgql: GraphQLClient, acme: dict[str, Any]
) -> None:
    for query in (
        '{ auditLog(since: "2024-01-01T00:00:00", until: "2199-01-01T00:00:00") { totalCount } }',
        '{ usageHistory(customerId: "acme", featureId: "seats", from: "2024-01-01T00:00:00") '
        "{ periodStart } }",
    ):
        response = await tgql.post(query)
        assert response.status_code < 500, response.text
        assert "INTERNAL_SERVER_ERROR" not in response.text, response.text


async def test_usage_timestamps_outside_the_bounds_are_refused_whole(
    tgql: GraphQLClient, acme: dict[str, Any]
) -> None:
    """Beyond the DateTime bounds a report or an event batch is refused as a whole (the
    domain's own timestamp rules, 2000-01-01 to 5 minutes ahead, refuse per item)."""
    for stamp in ("0001-01-01T00:00:00+05:00", "2999-01-01T00:00:00Z"):
        item = {"customerId": "acme", "featureId": "seats", "value": 1, "timestamp": stamp}
        refused_as_invalid(await tgql.post(REPORT, {"i": item}))
        event = {
            "customerId": "acme",
            "eventName": "api_call",
            "idempotencyKey": "e",
            "timestamp": stamp,
        }
        refused_as_invalid(
            await tgql.post(
                """mutation($i: ReportEventsInput!) { reportEvents(input: $i) { accepted } }""",
                {"i": {"events": [event]}},
            )
        )


def test_the_limits_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.schema.common import ClientError
    from app.schema.input_boundary import json_scalar
    from app.settings import Settings

    defaults = Settings.from_env()
    assert (defaults.max_json_depth, defaults.max_json_bytes, defaults.max_backdate_days) == (
        32,
        262_144,
        365,
    )
    monkeypatch.setenv("ALLOT_MAX_JSON_DEPTH", "2")
    monkeypatch.setenv("ALLOT_MAX_JSON_BYTES", "20")
    monkeypatch.setenv("ALLOT_MAX_BACKDATE_DAYS", "30")
    settings = Settings.from_env()
    assert (settings.max_json_depth, settings.max_json_bytes, settings.max_backdate_days) == (
        2,
        20,
        30,
    )
    scalar = json_scalar(settings.max_json_depth, settings.max_json_bytes)
    assert scalar.parse_value is not None
    assert scalar.parse_value({"a": [1]}) == {"a": [1]}
    for too_much in ({"a": {"b": [1]}}, {"s": "x" * 20}):
        with pytest.raises(ClientError):
            scalar.parse_value(too_much)
