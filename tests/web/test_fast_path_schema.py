"""The fast path is derived from the schema: what it writes, what it leaves to the executor
and who may call it are read from strawberry's definitions, so a new field or permission
cannot drift from the executor (issue 11 item 2)."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry
from strawberry.types import Info, get_object_definition

from app.auth import KeyKind, Principal
from app.clock import Clock
from app.resolvers.root import build_schema
from app.schema.common import ServerKeyOnly
from app.schema.context import Context
from app.schema.documents import DocumentChecker
from app.schema.entitlement_types import Entitlement, EntitlementSource
from app.settings import Settings
from app.web.fast_path import FastPath, every_field


def _plain_python_names(type_: type) -> dict[str, str]:
    """GraphQL name → Python attribute of every field strawberry answers from the attribute
    itself (no resolver), read from strawberry's own type definition."""
    definition = get_object_definition(type_, strict=True)
    return {
        f.graphql_name or f.python_name: f.python_name
        for f in definition.fields
        if f.base_resolver is None
    }


def test_planned_attributes_are_strawberry_s_python_names() -> None:
    schema = build_schema()
    graphql_schema = schema._schema
    for type_ in (Entitlement, EntitlementSource):
        name = get_object_definition(type_, strict=True).name
        parent: Any = graphql_schema.get_type(name)
        planned = {s.key: s.attribute for s in every_field(parent)}
        expected = {
            schema.config.name_converter.apply_naming_config(graphql): python
            for graphql, python in _plain_python_names(type_).items()
        }
        assert planned == expected, name
    assert "feature" not in {s.key for s in every_field(graphql_schema.get_type("Entitlement"))}  # type: ignore[arg-type]


# A schema of its own, with fields and a permission the fast path has never heard of: it
# serves them unedited, leaves the resolver-backed field to the executor and asks the
# root's own permission.


@strawberry.type
class Verdict:
    allowed: bool
    # A Python name no camel-case guess would find.
    tier_label: str = strawberry.field(name="vipTier")
    notes: list[str] | None = None

    @strawberry.field
    def computed(self) -> str:
        return "by a resolver"


@strawberry.type
class Query:
    @strawberry.field
    async def entitlement(self, info: Info[Context, None], customer_id: str) -> Verdict:
        return Verdict(allowed=customer_id == "acme", tier_label="gold", notes=["n"])


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=[ServerKeyOnly])
    async def report_usage(self, info: Info[Context, None], customer_id: str) -> Verdict:
        return Verdict(allowed=True, tier_label=customer_id)


def _fast_path() -> tuple[strawberry.Schema, FastPath]:
    schema = strawberry.Schema(query=Query, mutation=Mutation)
    documents = DocumentChecker(Settings())
    documents.bind(schema._schema)
    return schema, FastPath(schema._schema, documents)


def _context(kind: KeyKind) -> Context:
    principal = Principal(
        key_pk=uuid.uuid4(),
        kind=kind,
        environment_pk=uuid.uuid4(),
        environment_slug="test",
        account_pk=uuid.uuid4(),
    )
    return Context(
        db=None,  # type: ignore[arg-type]  # these resolvers read nothing
        principal=principal,
        settings=Settings(),
        clock=Clock(),
        request_id="t",
    )


async def test_a_new_plain_field_is_served_without_editing_the_fast_path() -> None:
    schema, fast = _fast_path()
    query = '{ entitlement(customerId: "acme") { allowed vipTier notes __typename } }'
    plan = fast.plan_for(query, None)
    assert plan is not None
    context = _context(KeyKind.CLIENT)
    answer = await fast.run(plan, None, context)
    normal = await schema.execute(query, context_value=context)
    assert normal.errors is None
    assert answer == {"data": normal.data}
    assert normal.data == {
        "entitlement": {
            "allowed": True,
            "vipTier": "gold",
            "notes": ["n"],
            "__typename": "Verdict",
        }
    }


def test_a_field_resolved_by_code_is_left_to_the_executor() -> None:
    _, fast = _fast_path()
    assert fast.plan_for('{ entitlement(customerId: "a") { allowed computed } }', None) is None


async def test_the_root_s_own_permission_decides() -> None:
    _, fast = _fast_path()
    plan = fast.plan_for('mutation { reportUsage(customerId: "x") { vipTier } }', None)
    assert plan is not None
    assert await fast.run(plan, None, _context(KeyKind.CLIENT)) is None  # executor: FORBIDDEN
    served = await fast.run(plan, None, _context(KeyKind.SERVER))
    assert served == {"data": {"reportUsage": {"vipTier": "x"}}}


def _input_types() -> list[Any]:
    """The argument types of every root the fast path compiles, read from the schema."""
    from app.web.fast_path import FAST_ROOTS, strawberry_field

    graphql_schema = build_schema()._schema
    found = []
    for parent in (graphql_schema.query_type, graphql_schema.mutation_type):
        assert parent is not None
        for name in FAST_ROOTS & set(parent.fields):
            definition = strawberry_field(parent.fields[name])
            assert definition is not None
            found += [a.type for a in definition.arguments]
    return found


def test_compiled_input_conversion_is_strawberry_s() -> None:
    """Each input object argument of a compiled root converts as strawberry's own
    `convert_argument` converts it: every field given, none of the optional ones, nulls."""
    from datetime import UTC, datetime

    from strawberry.types.arguments import convert_argument

    from app.domain.usage.rules import UsageMode
    from app.web.fast_path import input_converter

    schema = build_schema()
    registry = schema.schema_converter.scalar_registry
    compiled = [
        (type_, input_converter(type_, registry, schema.config)) for type_ in _input_types()
    ]
    converters = [(t, c) for t, c in compiled if c is not None]
    assert converters, "reportUsage's input is compiled"
    every = {"customerId": "c", "featureId": "f", "value": 2.5, "mode": UsageMode.SET,
             "consume": True, "idempotencyKey": "k", "resourceId": "r",
             "timestamp": datetime(2030, 1, 1, tzinfo=UTC)}
    fewest = {"customerId": "c", "featureId": "f", "value": 1.0}
    nulls = {**fewest, "idempotencyKey": None, "resourceId": None, "timestamp": None}
    for type_, convert in converters:
        for value in (every, fewest, nulls):
            ours = convert(value, None, ("input",))
            theirs = convert_argument(value, type_, registry, schema.config, None,
                                      path=("input",))
            assert type(ours) is type(theirs) and vars(ours) == vars(theirs), value
