"""Bounded cost per request (issue 9, item 1) and one set of validation rules for every entry
point (item 4): documents a client key can send within the size limits but whose parsing,
validation or execution would cost the server seconds are refused up front, with
`QUERY_TOO_COMPLEX`, before the superlinear validation rules run."""

from __future__ import annotations

from typing import Any

import httpx
from graphql import get_introspection_query

from app.resolvers.root import build_schema
from app.schema.documents import DocumentChecker
from app.settings import Settings
from tests.support import GraphQLClient, Tenant


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _refused(response: httpx.Response, code: str = "QUERY_TOO_COMPLEX") -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body = response.json()
    body = body[0] if isinstance(body, list) else body
    assert body.get("data") is None, body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == code, error
    assert "locations" not in error or error["locations"], error
    return error  # type: ignore[no-any-return]


async def test_a_batch_of_repeated_fields_is_refused_before_validation(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    """The reproduced stall: 10 operations, each repeating `plans { totalCount }` (distinct
    names, so no cache helps); field merging compares every pair of repeats."""
    batch = [{"query": f"query Q{i} {{ " + "plans { totalCount } " * 200 + "}"} for i in range(10)]
    response = await http.post("/graphql", json=batch, headers=_auth(tenant.client_key))
    assert response.status_code == 200, response.text
    for answer in response.json():
        (error,) = answer["errors"]
        assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX", error
        assert "`plans` is selected 200 times" in error["message"]
        assert error["extensions"]["limit"] == 16


async def test_repeats_through_fragments_count_too(gql: GraphQLClient) -> None:
    spreads = " ".join(f"...F{i}" for i in range(20))
    fragments = " ".join(f"fragment F{i} on Query {{ environment {{ slug }} }}" for i in range(20))
    error = _refused(await gql.post(f"{{ {spreads} }} {fragments}"))
    assert "`environment` is selected 20 times" in error["message"], error
    # A few repeats (the ordinary case of fragments sharing fields) are fine.
    few = " ".join(f"fragment F{i} on Query {{ environment {{ slug }} }}" for i in range(3))
    data = await gql.execute("{ ...F0 ...F1 ...F2 } " + few)
    assert data["environment"]["slug"]


async def test_fragments_spreading_fragments_are_counted_spread(gql: GraphQLClient) -> None:
    """Each fragment spreads the previous one under two fields: ~1,500 fields once spread
    (and twice as many a level more), in a document of a few hundred bytes: the depth limit
    walks every one of them."""
    levels = [
        f"fragment L{i} on __Type {{ a: ofType {{ ...L{i - 1} }} b: ofType {{ ...L{i - 1} }} }}"
        for i in range(1, 10)
    ]
    query = '{ __type(name: "Plan") { ...L9 } } fragment L0 on __Type { name } ' + " ".join(levels)
    error = _refused(await gql.post(query))
    assert "fragments spread" in error["message"], error


async def test_cost_counts_the_fan_out_of_first(http: httpx.AsyncClient, tenant: Tenant) -> None:
    nested = (
        "plans(first: %s) { edges { node { versions { entitlements { featureId usageLimit } "
        "prices { amount tiers { upTo unitAmount } } } } } }"
    )
    wide = "{ " + " ".join(f"p{i}: {nested % 100}" for i in range(20)) + " }"
    client = await http.post("/graphql", json={"query": wide}, headers=_auth(tenant.client_key))
    error = _refused(client)
    assert error["extensions"]["limit"] == Settings().max_client_query_cost
    assert error["extensions"]["cost"] > error["extensions"]["limit"]
    # A variable `first` counts as the largest page it could ask for.
    variable = "query($n: Int) { " + " ".join(f"p{i}: {nested % '$n'}" for i in range(20)) + " }"
    response = await http.post(
        "/graphql",
        json={"query": variable, "variables": {"n": 1}},
        headers=_auth(tenant.client_key),
    )
    assert _refused(response)["extensions"]["cost"] == error["extensions"]["cost"]
    # Small pages of the same query are fine, and a server key has a larger budget.
    small = "{ " + " ".join(f"p{i}: {nested % 2}" for i in range(20)) + " }"
    ok = await http.post("/graphql", json={"query": small}, headers=_auth(tenant.client_key))
    assert ok.status_code == 200 and "errors" not in ok.json(), ok.text
    server = await http.post("/graphql", json={"query": wide}, headers=_auth(tenant.server_key))
    assert server.status_code == 200 and "errors" not in server.json(), server.text


async def test_a_batch_is_budgeted_as_a_whole(http: httpx.AsyncClient, tenant: Tenant) -> None:
    # Tokens: each operation is under the per-document limit, the three are over the request's.
    fields = " ".join(f"a{i}: __typename" for i in range(1_300))  # 3 tokens each
    batch = [{"query": f"query Q{i} {{ {fields} }}"} for i in range(3)]
    error = _refused(await http.post("/graphql", json=batch, headers=_auth(tenant.server_key)))
    assert "tokens" in error["message"], error
    # Cost: each full introspection fits a client key's request; a batch of three does not.
    introspection = get_introspection_query()
    one = await http.post(
        "/graphql", json={"query": introspection}, headers=_auth(tenant.client_key)
    )
    assert one.status_code == 200 and one.json()["data"]["__schema"]["types"], one.text
    three = [{"query": introspection}] * 3
    error = _refused(await http.post("/graphql", json=three, headers=_auth(tenant.client_key)))
    assert "costs over" in error["message"], error


def test_the_document_cache_is_bounded_in_bytes() -> None:
    """900 distinct ~950 KB queries grew memory by 1.6 GB through the old caches."""
    settings = Settings(document_cache_bytes=2_000_000)
    schema = build_schema(settings)
    checker: DocumentChecker = schema.documents
    for i in range(200):
        padding = "#" + "x" * 20_000 + "\n"  # a comment: one token, many bytes
        checker.check(f"query Q{i} {{ __typename }}\n{padding}")
        assert checker.cached_bytes <= settings.document_cache_bytes
    assert checker.cached_bytes > settings.document_cache_bytes // 2
    # A long one-off is not kept at all (it would push out many others).
    checker.check("{ __typename }\n#" + "x" * 100_000)
    assert checker.cached("{ __typename }\n#" + "x" * 100_000) is None


# --- item 4: the fast path validates with the executor's rules --------------------------------


async def test_the_fast_path_refuses_too_many_aliases(gql: GraphQLClient) -> None:
    """40 aliases inside one `entitlement` selection were answered by the fast path, while
    the executor refuses 31."""
    aliases = " ".join(f"a{i}: hasAccess" for i in range(40))
    query = f'{{ entitlement(customerId: "c", featureId: "f") {{ {aliases} }} }}'
    error = _refused(await gql.post(query), code="BAD_REQUEST")
    assert "alias" in error["message"].lower(), error


async def test_fast_path_and_executor_refuse_alike(gql: GraphQLClient) -> None:
    """For every kind of refusal, the entitlement shape the fast path plans answers exactly
    what the executor answers for it (the executor is forced with a second root field)."""
    check = 'entitlement(customerId: "c", featureId: "f")'
    bad_selections = {
        "aliases": " ".join(f"a{i}: hasAccess" for i in range(31)),
        "repeats": "hasAccess " * 17,
        "unknown field": "hasAccess nope",
    }
    for name, selection in bad_selections.items():
        fast = await gql.post(f"{{ {check} {{ {selection} }} }}")
        slow = await gql.post(f"{{ {check} {{ {selection} }} environment {{ id }} }}")
        assert fast.status_code == slow.status_code == 400, name
        messages = [e["message"] for e in fast.json()["errors"]]
        assert messages == [e["message"] for e in slow.json()["errors"]], name
    nul = await gql.post('{ entitlement(customerId: "c\\u0000", featureId: "f") { hasAccess } }')
    _refused(nul, code="INVALID_INPUT")


def test_one_checker_serves_both_entry_points() -> None:
    from app.web.fast_path import FastPath

    schema = build_schema()
    fast = FastPath(schema._schema, schema.documents)
    plan = fast.plan_for('{ entitlement(customerId: "c", featureId: "f") { hasAccess } }', None)
    assert plan is not None
    assert fast.documents is schema.documents


async def test_a_batch_over_its_tokens_is_refused_unparsed(
    app: Any, http: httpx.AsyncClient, tenant: Tenant, monkeypatch: Any
) -> None:
    """Parsing costs 4 to 10 µs a token: a batch over its budget is refused on a count."""
    documents = app.state.services.schema.documents
    parsed: list[str] = []
    original = documents._check
    monkeypatch.setattr(documents, "_check", lambda q: parsed.append(q) or original(q))
    fields = " ".join(f"a{i}: __typename" for i in range(1_000))
    batch = [{"query": f"query Fresh{i} {{ {fields} }}"} for i in range(4)]
    error = _refused(await http.post("/graphql", json=batch, headers=_auth(tenant.server_key)))
    assert "tokens" in error["message"], error
    assert parsed == []


async def test_variables_hold_a_bounded_number_of_values(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    """150,000 requested values (900 KB) cost half a second of CPU to coerce and check."""
    query = (
        'query($v: [String!]) { entitlement(customerId: "c", featureId: "f", '
        "requestedValues: $v) { hasAccess } }"
    )
    many = {"query": query, "variables": {"v": ["eu"] * 1_100}}
    client = await http.post("/graphql", json=many, headers=_auth(tenant.client_key))
    error = _refused(client, code="INVALID_INPUT")
    assert "over 1000 values" in error["message"], error
    server = await http.post("/graphql", json=many, headers=_auth(tenant.server_key))
    assert server.status_code == 200, server.text
    few = {"query": query, "variables": {"v": ["eu"] * 100}}
    ok = await http.post("/graphql", json=few, headers=_auth(tenant.client_key))
    assert ok.status_code == 200, ok.text


async def test_introspection_answers_as_the_executor_does(
    app: Any, gql: GraphQLClient, tenant: Tenant
) -> None:
    """Introspection-only operations run on a worker thread, with their answer kept: the
    same answer the executor gives, for the client key as for the server key."""
    schema = app.state.services.schema
    query = get_introspection_query()
    reference = await schema.execute(query)
    assert reference.errors is None
    for key in (tenant.server_key, tenant.client_key):
        for _ in range(2):  # computed, then kept
            response = await gql.with_key(key).post(query)
            assert response.status_code == 200
            assert response.json() == {"data": reference.data}
    named = '{ t: __type(name: "Plan") { name fields { name } } __typename }'
    assert (await gql.execute(named)) == (await schema.execute(named)).data
    missing = await gql.post("query($n: String!) { __type(name: $n) { name } }")
    assert missing.status_code == 400, missing.text


async def test_literals_hold_a_bounded_number_of_values(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    """Literal lists cost as much as variables to coerce (more: they are parsed too)."""

    def query(n: int) -> dict[str, str]:
        values = ", ".join(f'"v{k}"' for k in range(n))
        return {
            "query": f'{{ entitlement(customerId: "c", featureId: "f", '
            f"requestedValues: [{values}]) {{ hasAccess }} }}"
        }

    client = await http.post("/graphql", json=query(1_100), headers=_auth(tenant.client_key))
    error = _refused(client, code="INVALID_INPUT")
    assert "over 1000 values" in error["message"], error
    server = await http.post("/graphql", json=query(1_100), headers=_auth(tenant.server_key))
    assert server.status_code == 200, server.text
    ok = await http.post("/graphql", json=query(100), headers=_auth(tenant.client_key))
    assert ok.status_code == 200, ok.text
