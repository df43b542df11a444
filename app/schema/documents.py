"""Every GraphQL document is checked once, in one place, before anything runs it.

`DocumentChecker.check(query)` parses the text, measures what it would cost, and validates it
with *the* rule list (`validation_rules`): graphql-core's specified rules, strawberry's own,
the depth and alias limits and the input boundary. The executor (through the `CheckedDocuments`
extension) and the entitlement fast path both take their document from here, so they cannot
validate differently.

Why the budget comes before validation: some validation rules are superlinear in the
document — field merging compares every pair of fields answering under one response key
(1,200 repeats of `plans { totalCount }` cost seconds), and the depth limit walks fragments
without memo, so fragments spreading fragments grow exponentially. The budget is linear and
refuses such documents before any of those rules run:

- at most `max_fields` fields selected by an operation, fragments spread where they are
  used (this bounds what validation walks);
- one response key at most `max_field_repeats` times in one selection set, counting the
  fields fragments bring in;
- a static cost (`operation_cost`) of at most `max_query_cost`, which multiplies list
  fields by the page size they may answer.

Checked documents are cached by their text, bounded in bytes (a parsed document takes about
400 bytes per token), so distinct large queries cannot grow memory.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    Visitor,
    parse,
    specified_rules,
    validate,
    visit,
)
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from app.schema.input_boundary import RefuseUnsafeStrings
from app.settings import Settings

log = logging.getLogger(__name__)

TOO_COMPLEX = "QUERY_TOO_COMPLEX"
# Measured with tracemalloc on graphql-core 3.3: a parsed document holds ~400 bytes a token.
BYTES_PER_TOKEN = 400
# What a list without `first` is assumed to answer (a plan version's entitlements, a
# subscription's add-ons …), and a connection without `first` (the default page).
ASSUMED_LIST_LENGTH = 3
DEFAULT_PAGE = 20
# A unit is roughly 2 µs of server CPU (about one resolved field), so a client key's 50,000
# is about 100 ms. A root field starts at least one database round trip and a computation
# (an `entitlements` list: ~0.4 ms, measured by bench/abuse.py); introspecting the whole
# schema is one fixed, known amount of work (~50 ms for GraphiQL's introspection query, on a
# worker thread), so one fits in a client key's request.
ROOT_FIELD_COST = 250
INTROSPECTION_COST = {"__schema": 30_000, "__type": 500}
OFF_LOOP_CHARS = 2_000  # texts from this long are checked on a worker thread
# One worker thread for CPU-bound work taken off the event loop: with one, the loop gets the
# interpreter back every switch interval (5 ms); with several, they would take turns ahead of it.
HEAVY_WORK = ThreadPoolExecutor(max_workers=1, thread_name_prefix="allot-heavy")
HEAVY_WORK_SWITCH_INTERVAL = 0.0005  # seconds (sys.setswitchinterval; CPython's default: 0.005)


# GraphQL's tokens as one regular expression, for counting them at C speed before the parser
# (which spends 4 to 10 µs a token) sees the text. Strings and block strings are one token;
# comments count as tokens here (the parser skips them, but reading them is work too).
TOKEN = re.compile(
    r'"""(?:\\"""|[\s\S])*?"""|"(?:\\.|[^"\\\n\r])*"|#[^\n\r]*|\.\.\.|-?\d[\w.]*|[_A-Za-z]\w*|[^\s,\ufeff]'
)


def count_tokens(query: str, limit: int) -> int:
    """The tokens of `query`, counted up to `limit + 1` (enough to know it is over)."""
    if len(query) <= limit:
        return len(TOKEN.findall(query))
    return sum(1 for _ in islice(TOKEN.finditer(query), limit + 1))


def validation_rules(settings: Settings) -> tuple[type[ASTValidationRule], ...]:
    """The one list of validation rules every entry point runs (built once per schema: rule
    classes made per request would defeat the cache)."""
    return (
        *specified_rules,
        MaybeNullValidationRule,
        OneOfInputValidationRule,
        max_depth_rule(settings.max_query_depth, None),
        max_aliases_rule(settings.max_aliases),
        RefuseUnsafeStrings,
    )


@dataclass(frozen=True)
class CheckedDocument:
    """A query text after the check: its document (None when it does not parse), the errors
    that refuse it (syntax, budget or validation; empty when it may run), its size and cost."""

    document: DocumentNode | None
    errors: tuple[GraphQLError, ...]
    tokens: int
    cost: int
    literal_values: int = 0  # items of list and object literals (coercing each takes µs)
    introspects: bool = False  # some operation selects `__schema` or `__type` at its root


def too_complex(message: str, **details: int) -> GraphQLError:
    return GraphQLError(message, extensions={"code": TOO_COMPLEX, **details})


def cost_limit(settings: Settings, server_key: bool) -> int:
    """What one request may cost: server keys belong to the account's backends, client keys
    ship in frontends (anyone may hold one), so theirs is lower."""
    if server_key:
        return settings.max_query_cost
    return min(settings.max_client_query_cost, settings.max_query_cost)


def over_cost(cost: int, limit: int) -> GraphQLError | None:
    if cost <= limit:
        return None
    return too_complex(f"The query costs {cost}; at most {limit}.", cost=cost, limit=limit)


def input_values_limit(settings: Settings, server_key: bool) -> int:
    """How many values one operation's inputs (its variables; its list and object literals)
    may hold: a client key only reads, with a few values; a server key's batched usage
    reports take thousands."""
    if server_key:
        return settings.max_input_values
    return min(settings.max_client_input_values, settings.max_input_values)


def refusal_for_key(
    checked: CheckedDocument, settings: Settings, server_key: bool
) -> GraphQLError | None:
    """What refuses a checked, valid document for this kind of key: its cost, or the values
    written in it (the same limits every entry point applies)."""
    refusal = over_cost(checked.cost, cost_limit(settings, server_key))
    if refusal is not None:
        return refusal
    values = input_values_limit(settings, server_key)
    if checked.literal_values > values:
        message = f"The operation's literals hold over {values} values."
        return GraphQLError(message, extensions={"code": "INVALID_INPUT"})
    return None


class DocumentChecker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rules = validation_rules(settings)
        self.schema: GraphQLSchema | None = None
        self._cache: OrderedDict[str, tuple[CheckedDocument, int]] = OrderedDict()
        self._cached_bytes = 0
        self._lock = threading.Lock()  # large documents are checked on worker threads

    def bind(self, schema: GraphQLSchema) -> None:
        self.schema = schema

    @property
    def cached_bytes(self) -> int:
        return self._cached_bytes

    def cached(self, query: str) -> CheckedDocument | None:
        with self._lock:
            hit = self._cache.get(query)
            if hit is None:
                return None
            self._cache.move_to_end(query)
            return hit[0]

    async def check_off_loop(self, query: str) -> CheckedDocument:
        """`check`, on a worker thread when the text is new and long (parsing and validating
        a long document takes tens of ms: the event loop keeps serving meanwhile)."""
        hit = self.cached(query)
        if hit is not None:
            return hit
        if len(query) < OFF_LOOP_CHARS:
            return self.check(query)
        return await asyncio.get_running_loop().run_in_executor(HEAVY_WORK, self.check, query)

    def check(self, query: str) -> CheckedDocument:
        hit = self.cached(query)
        if hit is not None:
            return hit
        checked = self._check(query)
        self._remember(query, checked)
        return checked

    def _remember(self, query: str, checked: CheckedDocument) -> None:
        weight = len(query) + BYTES_PER_TOKEN * checked.tokens
        limit = self.settings.document_cache_bytes
        if weight > limit // 64:
            # A long one-off would push out many others, and churning long documents through
            # the cache makes the collector's full passes (which walk every cached node) long.
            return
        with self._lock:
            if query in self._cache:
                return
            self._cache[query] = (checked, weight)
            self._cached_bytes += weight
            while self._cached_bytes > limit:
                _, (_, dropped) = self._cache.popitem(last=False)
                self._cached_bytes -= dropped

    def _check(self, query: str) -> CheckedDocument:
        assert self.schema is not None, "DocumentChecker.bind(schema) first"
        limit = self.settings.max_tokens
        tokens = count_tokens(query, limit)
        if tokens > limit:
            message = f"Syntax Error: Document contains more than {limit} tokens."
            return CheckedDocument(None, (GraphQLError(message),), tokens, 0)
        try:
            document = parse(query, max_tokens=limit)
        except GraphQLError as error:
            return CheckedDocument(None, (error,), 0, 0)
        except RecursionError:
            nested = GraphQLError("Syntax Error: the document is nested too deeply.")
            return CheckedDocument(None, (nested,), 0, 0)
        refusal, cost = self._budget(document)
        if refusal is not None:
            return CheckedDocument(document, (refusal,), tokens, cost)
        errors = validate(self.schema, document, self.rules)
        return CheckedDocument(
            document, tuple(errors), tokens, cost, literal_values(document), _introspects(document)
        )

    def _budget(self, document: DocumentNode) -> tuple[GraphQLError | None, int]:
        settings = self.settings
        fields = expanded_fields(document)
        if fields > settings.max_fields:
            message = (
                f"The operation selects {fields} fields (fragments spread); "
                f"at most {settings.max_fields}."
            )
            return too_complex(message, fields=fields, limit=settings.max_fields), 0
        repeats = _most_repeated(document)
        if repeats is not None and repeats[1] > settings.max_field_repeats:
            key, count = repeats
            message = (
                f"`{key}` is selected {count} times in one selection set; "
                f"at most {settings.max_field_repeats}."
            )
            return too_complex(message, repeats=count, limit=settings.max_field_repeats), 0
        assert self.schema is not None
        cost = document_cost(self.schema, document, settings.max_page_size)
        # The highest limit here (the cheaper budget is the kind's: `cost_limit`).
        return over_cost(cost, settings.max_query_cost), cost


class _LiteralValues(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def enter_list_value(self, node: ListValueNode, *_: Any) -> None:
        self.count += len(node.values)

    def enter_object_value(self, node: ObjectValueNode, *_: Any) -> None:
        self.count += len(node.fields)


def _introspects(document: DocumentNode) -> bool:
    return any(
        isinstance(node, FieldNode) and node.name.value in INTROSPECTION_COST
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
        for node in definition.selection_set.selections
    )


def literal_values(document: DocumentNode) -> int:
    counter = _LiteralValues()
    visit(document, counter)
    return counter.count


def expanded_fields(document: DocumentNode) -> int:
    """How many fields the largest operation selects with its fragments spread out: what
    validation walks (each fragment counted once per spread, computed once)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    memo: dict[str, int] = {}

    def count(selection_set: SelectionSetNode | None, depth: int) -> int:
        if selection_set is None or depth > 64:  # deeper than any valid document
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += 1 + count(selection.selection_set, depth + 1)
            elif isinstance(selection, InlineFragmentNode):
                total += count(selection.selection_set, depth)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in memo:
                    memo[name] = 0  # a cycle counts nothing (validation refuses it)
                    fragment = fragments.get(name)
                    if fragment is not None:
                        memo[name] = count(fragment.selection_set, depth)
                total += memo[name]
        return total

    counts = [
        count(d.selection_set, 0)
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    ]
    return max(counts, default=0)


def _most_repeated(document: DocumentNode) -> tuple[str, int] | None:
    """The response key selected most often in one selection set (fields that fragments and
    inline fragments bring into it included), with its count."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    memo: dict[str, Counter[str]] = {}

    def keys_of(selection_set: SelectionSetNode, visiting: frozenset[str]) -> Counter[str]:
        keys: Counter[str] = Counter()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                keys[(selection.alias or selection.name).value] += 1
            elif isinstance(selection, InlineFragmentNode):
                keys.update(keys_of(selection.selection_set, visiting))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in visiting or name not in fragments:
                    continue  # a cycle or an unknown fragment: validation refuses it
                if name not in memo:
                    memo[name] = keys_of(fragments[name].selection_set, visiting | {name})
                keys.update(memo[name])
        return keys

    worst: tuple[str, int] | None = None
    stack = [
        d.selection_set
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)
    ]
    while stack:
        selection_set = stack.pop()
        counts = keys_of(selection_set, frozenset())
        if counts:
            key, count = counts.most_common(1)[0]
            if worst is None or count > worst[1]:
                worst = (key, count)
        for selection in selection_set.selections:
            nested = getattr(selection, "selection_set", None)
            if nested is not None:
                stack.append(nested)
    return worst


def document_cost(schema: GraphQLSchema, document: DocumentNode, max_page: int) -> int:
    """The most expensive operation's cost: 1 a field, `ROOT_FIELD_COST` a root field; a list
    field costs its selection times what it may answer — the page a connection's `first`
    asks for (its `edges`), else an assumed length. Fragments are counted where they are
    spread, each computed once."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    memo: dict[tuple[str, int | None], int] = {}

    def set_cost(
        selection_set: SelectionSetNode | None, parent: Any, depth: int, page: int | None
    ) -> int:
        """`page`: the page size when `parent` is a connection (its lists answer that many)."""
        if selection_set is None or depth > 64:  # deeper than any valid document
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += field_cost(selection, parent, depth, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = schema.get_type(condition.name.value) if condition else parent
                total += set_cost(selection.selection_set, target, depth, page)
            elif isinstance(selection, FragmentSpreadNode):
                key = (selection.name.value, page)
                if key not in memo:
                    memo[key] = 0  # a cycle counts nothing (validation refuses it)
                    fragment = fragments.get(key[0])
                    if fragment is not None:
                        target = schema.get_type(fragment.type_condition.name.value)
                        memo[key] = set_cost(fragment.selection_set, target, depth, page)
                total += memo[key]
        return total

    def field_cost(node: FieldNode, parent: Any, depth: int, page: int | None) -> int:
        name = node.name.value
        if name in INTROSPECTION_COST:
            return INTROSPECTION_COST[name]
        field_def = getattr(parent, "fields", {}).get(name)
        if field_def is None:  # validation refuses it
            return 1 + set_cost(node.selection_set, None, depth + 1, None)
        type_, is_list = _unwrap(field_def.type)
        own = ROOT_FIELD_COST if parent in roots else 1
        if "first" in field_def.args:  # a connection: its edges answer one page
            return own + set_cost(node.selection_set, type_, depth + 1, _first(node, max_page))
        children = set_cost(node.selection_set, type_, depth + 1, None)
        if is_list:
            return own + (page if page is not None else ASSUMED_LIST_LENGTH) * children
        return own + children

    roots = {schema.query_type, schema.mutation_type, schema.subscription_type} - {None}
    costs = [
        set_cost(d.selection_set, schema.get_root_type(d.operation), 0, None)
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    ]
    return max(costs, default=0)


def _unwrap(type_: Any) -> tuple[Any, bool]:
    is_list = False
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(type_, GraphQLList)
        type_ = type_.of_type
    return type_, is_list


def _first(node: FieldNode, max_page: int) -> int:
    for argument in node.arguments or ():
        if argument.name.value != "first":
            continue
        if isinstance(argument.value, IntValueNode):
            return max(0, min(int(argument.value.value), max_page))
        if isinstance(argument.value, VariableNode):
            return max_page  # unknown until the request's variables: assume the most
    return DEFAULT_PAGE


class CheckedDocuments(SchemaExtension):
    """Hands strawberry the checked document and its verdict, so its own parse and
    validation steps are skipped (they would run the same rules a second time)."""

    def __init__(self, checker: DocumentChecker) -> None:
        super().__init__()
        self.checker = checker
        self.checked: CheckedDocument | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None and context.graphql_document is None:
            handed = getattr(context.context, "checked", None)
            if handed is not None and handed[0] is context.query:
                checked = handed[1]
            else:
                checked = self.checker.check(context.query)
            if checked.document is not None:
                context.graphql_document = checked.document
                self.checked = checked
            else:  # strawberry parses again and answers the same syntax error
                context.parse_options["max_tokens"] = self.checker.settings.max_tokens
        yield

    def on_validate(self) -> Iterator[None]:
        checked = self.checked
        if checked is not None:
            errors = list(checked.errors)
            principal = getattr(self.execution_context.context, "principal", None)
            if not errors and principal is not None:
                refusal = refusal_for_key(checked, self.checker.settings, principal.is_server)
                errors = [refusal] if refusal is not None else []
            self.execution_context.pre_execution_errors = errors
        yield
