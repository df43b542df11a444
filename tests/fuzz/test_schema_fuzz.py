"""Fuzz the whole GraphQL schema of a real `allot serve --demo` over HTTP.

hypothesis-graphql writes valid operations for every query and mutation root, with arguments
drawn from the ids that really exist (so mutations reach the code behind the lookups), edge
dates, odd JSON, huge and non-finite-looking numbers, NUL bytes and lone surrogates in strings.
Each request alternates between the server and the client key. Afterwards every object created
along the way is read back through every query root. Nothing a caller sends may answer a 5xx
or an INTERNAL_SERVER_ERROR.

ALLOT_FUZZ_EXAMPLES sets the number of generated operations (default 1,500, sized for CI);
ALLOT_FUZZ_SEED makes a run reproducible with a chosen seed (default: a fixed one in CI).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema, nodes

from tests.e2e.process import Served, demo_server

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("ALLOT_FUZZ_EXAMPLES", "1500"))
SEED = int(os.environ.get("ALLOT_FUZZ_SEED", "20261203"))
READ_BACK_IDS_PER_ROOT = 40
# The fuzz sends ~1,500 requests as fast as it can; a 429 would silently narrow its reach
# (and depend on timing), so the server's rate limits are off (tested in test_rate_limits).
UNLIMITED = {
    "ALLOT_RATE_LIMIT_SERVER": "0",
    "ALLOT_RATE_LIMIT_CLIENT": "0",
    "ALLOT_RATE_LIMIT_AUTH_FAILURES": "0",
}


@dataclass
class Target:
    served: Served
    http: httpx.Client
    schema: graphql.GraphQLSchema
    client_key: str
    ids: list[str] = field(default_factory=list)
    # The fuzzer's own keys: revoking them would end the run's reach, not find a fault.
    protected: set[str] = field(default_factory=set)
    requests: int = 0

    def keys(self) -> list[str]:
        return [self.served.dev_key, self.client_key]

    def post(self, key: str, body: bytes | dict[str, Any]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.requests += 1
        if not isinstance(body, bytes):
            # ASCII-escaped, so lone surrogates travel as \ud800 (httpx would refuse them).
            body = json.dumps(body).encode()
        return self.http.post("/graphql", content=body, headers=headers)


def assert_no_internal_error(response: httpx.Response, query: object) -> Any:
    assert response.status_code < 500, (response.status_code, response.text[:2000], query)
    text = response.text
    assert "INTERNAL_SERVER_ERROR" not in text, (text[:2000], query)
    assert "Traceback" not in text, (text[:2000], query)
    try:
        return response.json()
    except ValueError:
        return None


def harvest_ids(fuzz: Target, value: Any) -> None:
    """Every `id` in a response joins the pool later operations draw their ids from."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "id" and isinstance(item, str):
                if item not in fuzz.ids and item not in fuzz.protected and len(item) < 200:
                    fuzz.ids.append(item)
            else:
                harvest_ids(fuzz, item)
    elif isinstance(value, list):
        for item in value:
            harvest_ids(fuzz, item)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    logs: Path = tmp_path_factory.mktemp("allot-fuzz")
    with (
        demo_server(logs, UNLIMITED) as served,
        httpx.Client(base_url=served.base_url, timeout=30) as http,
    ):
        headers = {"Authorization": f"Bearer {served.dev_key}"}
        introspection = http.post(
            "/graphql", json={"query": graphql.get_introspection_query()}, headers=headers
        ).json()
        schema = graphql.build_client_schema(introspection["data"])
        created = http.post(
            "/graphql",
            json={"query": "mutation { createApiKey(input: {kind: CLIENT}) { secret } }"},
            headers=headers,
        ).json()
        client_key = created["data"]["createApiKey"]["secret"]
        fuzz = Target(served=served, http=http, schema=schema, client_key=client_key)
        keys = http.post("/graphql", json={"query": "{ apiKeys { id } }"}, headers=headers)
        fuzz.protected = {key["id"] for key in keys.json()["data"]["apiKeys"]}
        read_back(fuzz)  # seeds the id pool with the demo's objects
        yield fuzz


# Values a careless or hostile caller sends, beside what hypothesis draws by itself.
EDGE_STRINGS = ["", "\x00", "a\x00b", "\ud800", "x" * 10_000, "../../etc/passwd", "'; --", "é☃𝄞"]
EDGE_DATES = [
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "1900-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "2200-01-01T00:00:00Z",
    "2026-12-03T10:00:00Z",
    "2026-12-03T10:00:00",
    "infinity",
    "-infinity",
    "not a date",
]
EDGE_DECIMALS = ["0", "-1", "0.001", "1e308", "NaN", "Infinity", "-0", "99999999999999999999.99"]


def json_values() -> st.SearchStrategy[graphql.ValueNode]:
    leaves = st.one_of(
        st.integers(min_value=-(10**25), max_value=10**25).map(nodes.Int),
        st.sampled_from(["1e20", "1e308", "-1e308", "0.1"]).map(
            lambda text: graphql.FloatValueNode(value=text)
        ),
        st.text(max_size=20).map(nodes.String),
        st.booleans().map(lambda b: graphql.BooleanValueNode(value=b)),
        st.just(graphql.NullValueNode()),
    )

    def nested(children: st.SearchStrategy[graphql.ValueNode]) -> st.SearchStrategy[Any]:
        fields = st.lists(
            st.tuples(st.from_regex(r"\A[a-z_][a-z0-9_]{0,8}\Z"), children),
            max_size=4,
            unique_by=lambda pair: pair[0],
        ).map(
            lambda pairs: graphql.ObjectValueNode(
                fields=tuple(
                    graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=v)
                    for k, v in pairs
                )
            )
        )
        lists = st.lists(children, max_size=4).map(
            lambda items: graphql.ListValueNode(values=tuple(items))
        )
        return st.one_of(fields, lists)

    return st.recursive(leaves, nested, max_leaves=12)


def scalar_strategies(fuzz: Target) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    # The pool grows while the run goes on: draw an index, not an element.
    real_id = st.integers(min_value=0, max_value=10**6).map(
        lambda i: nodes.String(fuzz.ids[i % len(fuzz.ids)] if fuzz.ids else "none")
    )
    return {
        "ID": st.one_of(real_id, real_id, real_id, st.sampled_from(EDGE_STRINGS).map(nodes.String)),
        "String": st.one_of(
            st.text(max_size=40).map(nodes.String),
            st.sampled_from(EDGE_STRINGS).map(nodes.String),
            real_id,
        ),
        "DateTime": st.one_of(
            st.sampled_from(EDGE_DATES).map(nodes.String),
            st.datetimes().map(lambda d: nodes.String(d.isoformat() + "Z")),
        ),
        "Decimal": st.one_of(
            st.sampled_from(EDGE_DECIMALS).map(nodes.String),
            st.decimals(allow_nan=False, allow_infinity=False, places=2).map(nodes.String),
        ),
        "JSON": json_values(),
        "Float": st.one_of(
            st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
            st.sampled_from(["1e308", "-1e308", "1e20"]).map(
                lambda text: graphql.FloatValueNode(value=text)
            ),
        ),
    }


def fuzz_once(fuzz: Target, query: str, key_index: int) -> None:
    response = fuzz.post(fuzz.keys()[key_index], {"query": query})
    body = assert_no_internal_error(response, query)
    if isinstance(body, dict):
        harvest_ids(fuzz, body.get("data"))


def test_no_operation_answers_an_internal_error(target: Target) -> None:
    strategy = from_schema(
        target.schema, custom_scalars=scalar_strategies(target), allow_x00=True, codec=None
    )

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(query=strategy, key_index=st.integers(min_value=0, max_value=1))
    def fuzz(query: str, key_index: int) -> None:
        fuzz_once(target, query, key_index)

    fuzz()
    # Whatever the run left behind can be read, by either key, through every root.
    read_back(target)


def test_malformed_bodies_are_client_errors(target: Target) -> None:
    bodies: list[str | bytes | dict[str, Any]] = [
        b"",
        b"{",
        b"[]",
        b'{"query": 1}',
        b'{"query": "{ environment { slug } }", "variables": "x"}',
        b'{"query": "\\u0000"}',
        b'{"query": "\\ud800"}',
        b'{"query": "{ feature(id: \\"a\\u0000\\") { id } }"}',
        {"query": "query($id: ID!) { feature(id: $id) { id } }", "variables": {"id": "a\x00"}},
        {"query": "{ environment { slug } }", "variables": {"x": {"y": [[[[[[[[[]]]]]]]]]}}},
        "[" * 5000 + "]" * 5000,
    ]
    for key in target.keys():
        for body in bodies:
            raw = body.encode() if isinstance(body, str) else body
            assert_no_internal_error(target.post(key, raw), body)


# ---- read back: every query root, every object the run knows about ----------------------


def selection(type_: graphql.GraphQLOutputType, depth: int) -> str:
    """Every field without required arguments, objects to `depth` levels."""
    named = graphql.get_named_type(type_)
    if not isinstance(named, graphql.GraphQLObjectType | graphql.GraphQLInterfaceType):
        return ""
    parts = []
    for name, fld in named.fields.items():
        if any(graphql.is_required_argument(arg) for arg in fld.args.values()):
            continue
        inner = graphql.get_named_type(fld.type)
        if isinstance(inner, graphql.GraphQLObjectType | graphql.GraphQLInterfaceType):
            if depth > 0:
                sub = selection(fld.type, depth - 1)
                if sub:
                    parts.append(f"{name} {sub}")
        elif isinstance(inner, graphql.GraphQLUnionType):
            parts.append(f"{name} {{ __typename }}")
        else:
            parts.append(name)
    return "{ " + " ".join(parts) + " }" if parts else ""


def read_back(fuzz: Target) -> None:
    query_type = fuzz.schema.query_type
    assert query_type is not None
    for name, root in query_type.fields.items():
        required = [(a, arg) for a, arg in root.args.items() if graphql.is_required_argument(arg)]
        sub = selection(root.type, 3)
        if required:
            # Roots looked up by id: every id the run has seen (bounded), as that id.
            if [graphql.get_named_type(arg.type).name for _, arg in required] != ["ID"]:
                continue
            (arg_name, _), ids = required[0], list(fuzz.ids[-READ_BACK_IDS_PER_ROOT:])
            for value in ids:
                query = f"query($v: ID!) {{ {name}({arg_name}: $v) {sub} }}"
                for key in fuzz.keys():
                    body = {"query": query, "variables": {"v": value}}
                    response = fuzz.post(key, body)
                    harvest = assert_no_internal_error(response, body)
                    if isinstance(harvest, dict):
                        harvest_ids(fuzz, harvest.get("data"))
            continue
        for include_archived in (False, True):
            args = (
                "(includeArchived: true)"
                if include_archived and "includeArchived" in root.args
                else ""
            )
            if include_archived and not args:
                continue
            query = f"{{ {name}{args} {sub} }}"
            for key in fuzz.keys():
                body = assert_no_internal_error(fuzz.post(key, {"query": query}), query)
                if isinstance(body, dict):
                    harvest_ids(fuzz, body.get("data"))
