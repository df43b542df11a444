"""A compiled fast path for the hottest operations: the `entitlement` query and the
`reportUsage` mutation.

Both sit in the request path of our users' own applications, so their cost is the product's.
General GraphQL execution spends most of their time walking the document field by field
(resolver wrappers, info objects, awaitable checks for every leaf). For the one shape that
matters — an operation whose only root field is one of these, selecting plain fields (no
fragments, directives or loader-backed fields) — this module plans the document once (per
query text), then answers by calling the same resolver code and serialising the same
objects with the schema's own scalar and enum serialisers.

Anything else (other shapes, invalid documents, variables that don't coerce, a client key
on a mutation, a query that fails) goes through the normal executor, which stays the
reference: tests assert the fast path's answers are identical to it. A *mutation* that fails
once it has started is never run again (it may have written): it answers the executor's
masked internal error instead (`MutationFailed`).
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_argument_values,
)
from graphql.execution.values import get_variable_values

from app.context import Context
from app.domain import checks
from app.schema.documents import DocumentChecker
from app.schema.entitlement_types import entitlement_view

UNSUPPORTED = {"feature"}  # resolved by a loader: left to the normal executor
MAX_PLANS = 256
MAX_PLANNED_QUERY = 16_384  # longer texts are planned again each time (plans hold documents)

log = logging.getLogger(__name__)


class MutationFailed(Exception):
    """A mutation's handler raised after it started: the error to answer with (masked as
    the executor masks internal errors), rather than running the mutation a second time."""

    def __init__(self, error: GraphQLError) -> None:
        super().__init__(error.message)
        self.error = error


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class Selection:
    """One field to write: its response key, attribute, GraphQL type and sub-selection."""

    key: str
    attribute: str | None  # None for __typename
    type_: Any
    children: tuple[Selection, ...]


async def _entitlement(args: dict[str, Any], context: Context) -> Any:
    result = await checks.check_one(
        context.db,
        context.environment_pk,
        args["customerId"],
        args["featureId"],
        context.now(),
        args.get("requestedUsage"),
        args.get("requestedValues"),
        args.get("resourceId"),
    )
    return entitlement_view(result)


async def _report_usage(args: dict[str, Any], context: Context) -> Any:
    from app.domain import usage
    from app.resolvers.usage import report_usage_payload

    item = {
        k: (v.value if hasattr(v, "value") and k == "mode" else v)
        for k, v in args["input"].items()
        if v is not None
    }
    return report_usage_payload(
        await usage.report_usage(context.db, context.environment_pk, item, context.now())
    )


@dataclass(frozen=True)
class Root:
    operation: OperationType
    handler: Any
    server_only: bool


ROOTS = {
    "entitlement": Root(OperationType.QUERY, _entitlement, server_only=False),
    "reportUsage": Root(OperationType.MUTATION, _report_usage, server_only=True),
}


@dataclass(frozen=True)
class Plan:
    root: Root
    operation: OperationDefinitionNode
    field_node: FieldNode
    field_def: Any
    key: str
    selections: tuple[Selection, ...]


def _unwrap(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def _selections(
    selection_set: SelectionSetNode | None, parent: GraphQLObjectType
) -> tuple[Selection, ...] | None:
    if selection_set is None:
        return None
    out = []
    for node in selection_set.selections:
        if not isinstance(node, FieldNode) or node.directives or node.arguments:
            return None
        name = node.name.value
        key = node.alias.value if node.alias else name
        if name == "__typename":
            out.append(Selection(key, None, parent.name, ()))
            continue
        if name in UNSUPPORTED or name not in parent.fields:
            return None
        field_type = parent.fields[name].type
        named = _unwrap(field_type)
        children: tuple[Selection, ...] = ()
        if isinstance(named, GraphQLObjectType):
            nested = _selections(node.selection_set, named)
            if nested is None:
                return None
            children = nested
        out.append(Selection(key, _snake(name), field_type, children))
    if len({s.key for s in out}) != len(out):
        return None  # repeated keys merge in GraphQL: leave that to the executor
    return tuple(out)


def every_field(parent: GraphQLObjectType) -> tuple[Selection, ...]:
    """Every field of `parent`, recursively, but those resolved by a loader (UNSUPPORTED)."""
    out = []
    for name, field_def in parent.fields.items():
        if name in UNSUPPORTED:
            continue
        named = _unwrap(field_def.type)
        children = every_field(named) if isinstance(named, GraphQLObjectType) else ()
        out.append(Selection(name, _snake(name), field_def.type, children))
    return tuple(out)


class FastPath:
    def __init__(self, schema: GraphQLSchema, documents: DocumentChecker) -> None:
        self.schema = schema
        # The executor's own checker: the same parse, budget and validation rules.
        self.documents = documents
        self._plans: OrderedDict[tuple[str, str | None], Plan | None] = OrderedDict()
        self._every_field: dict[str, tuple[Selection, ...]] = {}

    def serialise_all(self, type_name: str, obj: Any) -> dict[str, Any]:
        """`obj` (a GraphQL object of `type_name`) as the executor would answer a query
        selecting every field but the loader-backed ones: the REST routes' answer, so REST
        and GraphQL are one view with one serialiser and cannot drift apart."""
        selections = self._every_field.get(type_name)
        if selections is None:
            parent = self.schema.get_type(type_name)
            assert isinstance(parent, GraphQLObjectType), type_name
            selections = self._every_field[type_name] = every_field(parent)
        return _write(obj, selections)

    def plan_for(self, query: str, operation_name: str | None) -> Plan | None:
        key = (query, operation_name)
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        plan = self._make_plan(query, operation_name)
        if len(query) > MAX_PLANNED_QUERY:
            return plan
        self._plans[key] = plan
        if len(self._plans) > MAX_PLANS:
            self._plans.popitem(last=False)
        return plan

    def _make_plan(self, query: str, operation_name: str | None) -> Plan | None:
        checked = self.documents.check(query)
        document = checked.document
        if document is None or checked.errors:
            return None  # the executor answers the same errors
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) != len(document.definitions) or len(operations) != 1:
            return None
        operation = operations[0]
        if operation.directives:
            return None
        if operation_name is not None and (
            operation.name is None or operation.name.value != operation_name
        ):
            return None
        roots = operation.selection_set.selections
        if len(roots) != 1 or not isinstance(roots[0], FieldNode):
            return None
        node = roots[0]
        name = node.name.value
        root = ROOTS.get(name)
        if root is None or root.operation is not operation.operation or node.directives:
            return None
        parent = (
            self.schema.query_type
            if root.operation is OperationType.QUERY
            else self.schema.mutation_type
        )
        assert parent is not None
        field_def = parent.fields[name]
        selections = _selections(node.selection_set, _unwrap(field_def.type))
        if selections is None:
            return None
        return Plan(
            root, operation, node, field_def, node.alias.value if node.alias else name, selections
        )

    async def run(
        self, plan: Plan, variables: dict[str, Any] | None, context: Context
    ) -> dict[str, Any] | None:
        """The response body, or None to let the normal executor answer (and report)."""
        if plan.root.server_only and not context.principal.is_server:
            return None  # the executor answers FORBIDDEN
        coerced = get_variable_values(
            self.schema, plan.operation.variable_definitions or (), variables or {}
        )
        if isinstance(coerced, list):
            return None
        args = get_argument_values(plan.field_def, plan.field_node, coerced)
        try:
            answer = await plan.root.handler(args, context)
        except Exception as error:
            if plan.root.operation is not OperationType.MUTATION:
                raise  # a query may simply be answered again by the executor
            log.error("internal error at %s (request %s)", [plan.key], context.request_id,
                      exc_info=error)
            raise MutationFailed(GraphQLError(
                "Internal server error.", nodes=[plan.field_node], path=[plan.key],
                extensions={"code": "INTERNAL_SERVER_ERROR"})) from error
        return {"data": {plan.key: _write(answer, plan.selections)}}


def _write(obj: Any, selections: tuple[Selection, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in selections:
        if s.attribute is None:
            out[s.key] = s.type_
            continue
        out[s.key] = _value(getattr(obj, s.attribute), s.type_, s.children)
    return out


def _value(value: Any, type_: Any, children: tuple[Selection, ...]) -> Any:
    if value is None:
        return None
    if isinstance(type_, GraphQLNonNull):
        return _value(value, type_.of_type, children)
    if isinstance(type_, GraphQLList):
        return [_value(item, type_.of_type, children) for item in value]
    if isinstance(type_, GraphQLObjectType):
        return _write(value, children)
    return type_.serialize(value)  # the schema's own scalar / enum serialiser
