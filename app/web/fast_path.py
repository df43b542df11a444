"""A compiled fast path for the hottest operations: the `entitlement` query and the
`reportUsage` mutation, and `usageHistory` (thousands of plain objects in one answer).

The first two sit in the request path of our users' own applications, so their cost is the
product's.
General GraphQL execution spends most of their time walking the document field by field
(resolver wrappers, info objects, awaitable checks for every leaf). For the one shape that
matters — an operation whose only root field is one of these, selecting plain fields (no
fragments, directives or resolver-backed fields) — this module plans the document once (per
query text), then answers by running the root field exactly as the executor runs it and
serialising the answer with the schema's own scalar and enum serialisers.

Everything is read from the schema, nothing is copied: the root field is called through its
own GraphQL resolver (strawberry's: argument conversion into the input types, the field's
permission classes, the resolver itself — the resolver is the one function); the Python
attribute of each selected field and whether it is a plain attribute at all come from the
strawberry field behind it (`python_name`, `is_basic_field`); the permission refusing client
keys is the field's own permission object, asked before the resolver starts; validation is
the executor's own checker (app/schema/documents.py).

Anything else (other shapes, invalid documents, variables that don't coerce, a refused
permission, a query that fails) goes through the normal executor, which stays the reference:
tests assert the fast path's answers are identical to it. A *mutation* that fails once it
has started is never run again (it may have written): it answers the executor's masked
internal error instead (`MutationFailed`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_argument_values,
)
from graphql.execution.values import get_variable_values
from graphql.pyutils import Path, is_awaitable
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.relay.types import GlobalID
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import (
    StrawberryArgument,
    _is_leaf_type,
    _is_optional_leaf_type,
    convert_argument,
)
from strawberry.types.base import StrawberryMaybe, StrawberryOptional, has_object_definition
from strawberry.types.field import StrawberryField
from strawberry.types.unset import UNSET
from strawberry.utils.await_maybe import await_maybe

from app.schema.common import KeptView
from app.schema.context import Context
from app.schema.documents import CheckedDocument, DocumentChecker, refusal_for_key

# The root fields worth compiling: the hot path of our users' applications. Which operation
# each belongs to, how it is resolved and who may call it are read from the schema.
FAST_ROOTS = frozenset({"entitlement", "reportUsage", "usageHistory", "entitlementsState"})
MAX_PLANS = 256
MAX_PLANNED_QUERY = 16_384  # longer texts are planned again each time (plans hold documents)

log = logging.getLogger(__name__)


def strawberry_field(field_def: GraphQLField) -> StrawberryField | None:
    """The strawberry definition a GraphQL field was built from (strawberry keeps it there)."""
    found = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    return found if isinstance(found, StrawberryField) else None


def plain_attribute(field_def: GraphQLField) -> str | None:
    """The Python attribute a field answers with, when it is a plain attribute (strawberry's
    own test: no resolver, no extension); None when code resolves it (a loader, a resolver,
    a permission), which the fast path leaves to the executor."""
    definition = strawberry_field(field_def)
    if definition is None or not definition.is_basic_field:
        return None
    return definition.python_name


def root_permissions(field_def: GraphQLField) -> tuple[BasePermission, ...] | None:
    """The permission objects a root field's resolver runs (its permission classes), or None
    when the field has another kind of extension, which the fast path does not ask ahead."""
    definition = strawberry_field(field_def)
    if definition is None or definition.base_resolver is None:
        return None
    found: list[BasePermission] = []
    for extension in definition.extensions:
        if not isinstance(extension, PermissionExtension):
            return None
        found.extend(extension.permissions)
    return tuple(found)


class MutationFailed(Exception):
    """A mutation's handler raised after it started: the error to answer with (masked as
    the executor masks internal errors), rather than running the mutation a second time."""

    def __init__(self, error: GraphQLError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class Selection:
    """One field to write: its response key, attribute, GraphQL type and sub-selection."""

    key: str
    attribute: str | None  # None for __typename
    type_: Any
    children: tuple[Selection, ...]


@dataclass(frozen=True)
class Plan:
    operation: OperationDefinitionNode
    operation_name: str | None
    parent: GraphQLObjectType
    field_node: FieldNode
    field_def: GraphQLField
    definition: StrawberryField  # the strawberry field behind field_def
    # GraphQL name, definition, whether strawberry hands its value over as it is, whether
    # it hands a null over as it is (all but a `Maybe`, which wraps it), and an input
    # object's converter (None: strawberry's `convert_argument`)
    arguments: tuple[tuple[str, StrawberryArgument, bool, bool, InputConverter | None], ...]
    permissions: tuple[BasePermission, ...]
    key: str
    selections: tuple[Selection, ...]
    checked: CheckedDocument
    # What was written for the `KeptView`s this root answered lately: {id(view): (view,
    # written)} (the view is held so its id is not reused while the entry lives).
    written: dict[int, tuple[Any, Any]] = field(default_factory=dict, compare=False)

    @property
    def path(self) -> Path:
        return Path(None, self.key, self.parent.name)

    @property
    def is_mutation(self) -> bool:
        return self.operation.operation is OperationType.MUTATION


def _unwrap(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def _selection(key: str, field_def: GraphQLField, node: FieldNode | None) -> Selection | None:
    """How to write one selected field, or None when the fast path cannot (resolved by code,
    or an object whose own selection it cannot write)."""
    attribute = plain_attribute(field_def)
    if attribute is None:
        return None
    named = _unwrap(field_def.type)
    children: tuple[Selection, ...] | None = ()
    if isinstance(named, GraphQLObjectType):
        children = (
            _selections(node.selection_set, named) if node is not None else every_field(named)
        )
    if children is None:
        return None
    return Selection(key, attribute, field_def.type, children)


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
        field_def = parent.fields.get(name)
        selection = None if field_def is None else _selection(key, field_def, node)
        if selection is None:
            return None
        out.append(selection)
    if len({s.key for s in out}) != len(out):
        return None  # repeated keys merge in GraphQL: leave that to the executor
    return tuple(out)


def every_field(parent: GraphQLObjectType) -> tuple[Selection, ...]:
    """Every plain field of `parent`, recursively (fields resolved by code are left out)."""
    out = []
    for name, field_def in parent.fields.items():
        selection = _selection(name, field_def, None)
        if selection is not None:
            out.append(selection)
    return tuple(out)


class FastPath:
    def __init__(self, schema: GraphQLSchema, documents: DocumentChecker) -> None:
        self.schema = schema
        # The strawberry schema behind it: its config and scalars convert arguments as the
        # executor does, its execution context class builds the resolvers' info.
        self.strawberry = schema.extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
        # The executor's own checker: the same parse, budget and validation rules.
        self.documents = documents
        self._plans: OrderedDict[tuple[str, str | None], Plan | None] = OrderedDict()
        self._every_field: dict[str, tuple[Selection, ...]] = {}

    def serialise_all(self, type_name: str, obj: Any) -> dict[str, Any]:
        """`obj` (a GraphQL object of `type_name`) as the executor would answer a query
        selecting every plain field: the REST routes' answer, so REST and GraphQL are one
        view with one serialiser and cannot drift apart."""
        selections = self._every_field.get(type_name)
        if selections is None:
            parent = self.schema.get_type(type_name)
            assert isinstance(parent, GraphQLObjectType), type_name
            selections = self._every_field[type_name] = every_field(parent)
        return _write(obj, selections)

    def plan_for(
        self, query: str, operation_name: str | None, checked: CheckedDocument | None = None
    ) -> Plan | None:
        """The plan for `query` (`checked`: its verdict, when the caller has it already)."""
        key = (query, operation_name)
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        plan = self._make_plan(checked or self.documents.check(query), operation_name)
        if len(query) > MAX_PLANNED_QUERY:
            return plan
        self._plans[key] = plan
        if len(self._plans) > MAX_PLANS:
            self._plans.popitem(last=False)
        return plan

    def _make_plan(self, checked: CheckedDocument, operation_name: str | None) -> Plan | None:
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
        parent = {
            OperationType.QUERY: self.schema.query_type,
            OperationType.MUTATION: self.schema.mutation_type,
        }.get(operation.operation)
        if name not in FAST_ROOTS or parent is None or node.directives:
            return None
        field_def = parent.fields.get(name)
        if field_def is None:
            return None
        definition = strawberry_field(field_def)
        permissions = root_permissions(field_def)
        if definition is None or permissions is None:
            return None
        selections = _selections(node.selection_set, _unwrap(field_def.type))
        if selections is None:
            return None
        key = node.alias.value if node.alias else name
        registry = self.strawberry.schema_converter.scalar_registry
        return Plan(
            operation,
            operation_name,
            parent,
            node,
            field_def,
            definition,
            tuple(
                (
                    self.strawberry.config.name_converter.from_argument(argument),
                    argument,
                    _passes_through(argument.type, registry),
                    not isinstance(argument.type, StrawberryMaybe),
                    input_converter(argument.type, registry, self.strawberry.config),
                )
                for argument in definition.arguments
            ),
            permissions,
            key,
            selections,
            checked,
        )

    async def run(
        self, plan: Plan, variables: dict[str, Any] | None, context: Context
    ) -> dict[str, Any] | None:
        """The response body, or None to let the normal executor answer (and report)."""
        if refusal_for_key(plan.checked, context.settings, context.principal.is_server):
            return None  # the executor answers the same refusal
        assert plan.checked.document is not None
        # Variables coerced as the executor coerces them, and the resolver's info as the
        # executor builds it for a root field (graphql-core's `build_resolve_info` fields; a
        # whole execution context per request cost ~15 µs more, a fifth of the check).
        coerced = get_variable_values(
            self.schema, plan.operation.variable_definitions or (), variables or {}
        )
        if isinstance(coerced, list):
            return None  # variables that do not coerce: the executor reports them
        info = GraphQLResolveInfo(
            plan.field_node.name.value,
            [plan.field_node],
            plan.field_def.type,
            plan.parent,
            plan.path,
            self.schema,
            {},
            None,
            plan.operation,
            coerced,
            context,
            is_awaitable,
            None,
            None,  # type: ignore[arg-type]  # graphql-core's async helpers: unused by resolvers
        )
        args = get_argument_values(plan.field_def, plan.field_node, coerced)
        definition = plan.definition
        config = self.strawberry.config
        strawberry_info = config.info_class(_raw_info=info, _field=definition)
        # strawberry's own conversion of each given argument (input types built, e.g.
        # `ReportUsageInput`), under its Python name: `convert_arguments` with the names
        # and the leaf test worked out once per plan rather than per request.
        registry = self.strawberry.schema_converter.scalar_registry
        field_kwargs = {
            argument.python_name: args[name]
            if leaf or (null_passes and args[name] is None)
            else converter(args[name], strawberry_info, (name,))
            if converter is not None
            else convert_argument(
                value=args[name],
                type_=argument.type,
                scalar_registry=registry,
                config=config,
                info=strawberry_info,
                path=(name,),
            )
            for name, argument, leaf, null_passes, converter in plan.arguments
            if name in args
        }
        if not await _permitted(plan, strawberry_info, field_kwargs):
            return None  # the executor answers the permission's refusal
        try:
            # The resolver itself. Its only extensions are the permissions just asked
            # (`root_permissions`): strawberry's extension chain would ask them again.
            field_args, resolver_kwargs = _resolver_call(definition, strawberry_info, field_kwargs)
            answer = await await_maybe(
                definition.get_result(None, strawberry_info, field_args, resolver_kwargs)
            )
        except Exception as error:
            if not plan.is_mutation:
                raise  # a query may simply be answered again by the executor
            log.error(
                "internal error at %s (request %s)", [plan.key], context.request_id, exc_info=error
            )
            raise MutationFailed(
                GraphQLError(
                    "Internal server error.",
                    nodes=[plan.field_node],
                    path=[plan.key],
                    extensions={"code": "INTERNAL_SERVER_ERROR"},
                )
            ) from error
        if answer is None and isinstance(plan.field_def.type, GraphQLNonNull):
            if not plan.is_mutation:
                return None  # the executor reports the null as it does
        if isinstance(answer, KeptView):
            return {"data": {plan.key: _written_again(plan, answer)}}
        # The root written like any field: an object, a list of objects (usageHistory) …
        return {"data": {plan.key: _value(answer, plan.field_def.type, plan.selections)}}


MAX_WRITTEN = 2_048


def _written_again(plan: Plan, view: KeptView) -> Any:
    """A kept view written under the plan's selection: what was written for it before, when
    it was (the same object, never changed, under the same selection, writes the same)."""
    kept = plan.written.get(id(view))
    if kept is not None and kept[0] is view:
        return kept[1]
    written = _value(view, plan.field_def.type, plan.selections)
    if len(plan.written) >= MAX_WRITTEN:
        plan.written.clear()
    plan.written[id(view)] = (view, written)
    return written


def _passes_through(type_: Any, registry: Any) -> bool:
    """Whether strawberry's `convert_argument` returns a value of this type unchanged: a
    scalar or enum, or an optional one (by strawberry's own leaf test), but a GlobalID (it
    decodes those) or a `Maybe` (it wraps those)."""
    if isinstance(type_, StrawberryMaybe) or type_ is GlobalID:
        return False
    if isinstance(type_, StrawberryOptional) and type_.of_type is GlobalID:
        return False
    return _is_leaf_type(type_, registry) or _is_optional_leaf_type(type_, registry)


# An input object's converter: (the GraphQL value, strawberry's info, its path) -> Python.
InputConverter = Callable[[Any, Any, tuple[str | int, ...]], Any]


def input_converter(type_: Any, registry: Any, config: Any) -> InputConverter | None:
    """For an input object type (or an optional one), a converter doing what strawberry's
    `convert_argument` does for it, with each field's GraphQL name, type and leaf test
    worked out once instead of on every request (they were a quarter of a reportUsage):
    fields absent from the value keep their defaults (None when they have none), leaves
    pass through, anything else goes through `convert_argument` itself. None for any other
    type, or an input type that builds its own value (`from_input`)."""
    optional = isinstance(type_, StrawberryOptional) and not isinstance(type_, StrawberryMaybe)
    inner = type_.of_type if optional else type_
    if isinstance(inner, StrawberryOptional) or not has_object_definition(inner):
        return None
    definition = inner.__strawberry_definition__
    if not definition.is_input or definition.from_input is not None:
        return None
    defaults: dict[str, Any] = {
        f.python_name: None
        for f in definition.fields
        if f.default_value is MISSING and f.default_factory is MISSING
    }
    fields = []
    for f in definition.fields:
        field_type = f.resolve_type(type_definition=definition)
        fields.append((
            config.name_converter.from_field(f),
            f.python_name,
            field_type,
            _passes_through(field_type, registry),
            not isinstance(field_type, StrawberryMaybe),
        ))

    def convert(value: Any, info: Any, path: tuple[str | int, ...]) -> Any:
        if value is None or value is UNSET:
            return value
        kwargs = dict(defaults)
        for name, python_name, field_type, leaf, null_passes in fields:
            if name in value:
                given = value[name]
                kwargs[python_name] = (
                    given
                    if leaf or (null_passes and given is None)
                    else convert_argument(given, field_type, registry, config, info,
                                          path=(*path, name))
                )
        return inner(**kwargs)

    return convert


def _resolver_call(
    definition: StrawberryField, info: Any, kwargs: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """The resolver's positional and keyword arguments, its own parameters filled in as
    strawberry's `get_arguments` fills them (`self`, `root`/`parent`: the root value, None;
    `info`)."""
    resolver = definition.base_resolver
    assert resolver is not None
    positional: list[Any] = [None] if resolver.self_parameter else []
    kwargs = dict(kwargs)
    for parameter in (resolver.parent_parameter, resolver.root_parameter):
        if parameter is not None:
            kwargs[parameter.name] = None
    if resolver.info_parameter is not None:
        kwargs[resolver.info_parameter.name] = info
    return positional, kwargs


async def _permitted(plan: Plan, info: Any, kwargs: dict[str, Any]) -> bool:
    """What the field's permission objects answer, asked as strawberry's permission extension
    asks them (the strawberry info, the converted arguments), before anything runs: a
    mutation must not start when it would be refused."""
    for permission in plan.permissions:
        if await await_maybe(permission.has_permission(None, info, **kwargs)) is not True:
            return False
    return True


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
