"""Introspection off the event loop.

GraphiQL's introspection query costs 40 to 60 ms of CPU and touches nothing but the schema, which
is fixed for the process's life: no resolver of ours, no database, nothing scoped to a key.
Run on the event loop it would hold every other request (and `/healthz`) for that long, so an
operation that selects only introspection fields is executed by graphql-core on a worker
thread (the loop keeps its turns: Python switches threads every few ms), and its answer is
kept for the same text, operation and variables, since it cannot change.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLSchema,
    OperationDefinitionNode,
    execute_sync,
    get_operation_ast,
)

from app.schema.documents import HEAVY_WORK

INTROSPECTION_ROOTS = frozenset({"__schema", "__type", "__typename"})
KEPT_ANSWERS = 32


def introspection_only(document: DocumentNode, operation_name: str | None) -> bool:
    """Whether the operation that would run selects introspection root fields only (fields
    written directly: fragments are left to the executor, which answers them the same)."""
    operation = get_operation_ast(document, operation_name)
    if not isinstance(operation, OperationDefinitionNode) or operation.operation.value != "query":
        return False
    selections = operation.selection_set.selections
    return all(
        isinstance(node, FieldNode) and node.name.value in INTROSPECTION_ROOTS
        for node in selections
    ) and any(
        isinstance(node, FieldNode) and node.name.value != "__typename" for node in selections
    )


class Introspection:
    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self._answers: OrderedDict[tuple[str, str | None, bytes], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    async def answer(
        self,
        query: str,
        document: DocumentNode,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> dict[str, Any] | None:
        """The answer, or None when it has errors (the executor answers those)."""
        key = (query, operation_name, orjson.dumps(variables, option=orjson.OPT_SORT_KEYS))
        with self._lock:
            kept = self._answers.get(key)
            if kept is not None:
                self._answers.move_to_end(key)
                return kept
        body = await asyncio.get_running_loop().run_in_executor(
            HEAVY_WORK, self._execute, document, variables, operation_name
        )
        if body is not None:
            with self._lock:
                self._answers[key] = body
                while len(self._answers) > KEPT_ANSWERS:
                    self._answers.popitem(last=False)
        return body

    def _execute(
        self, document: DocumentNode, variables: dict[str, Any] | None, operation_name: str | None
    ) -> dict[str, Any] | None:
        result = execute_sync(
            self.schema, document, variable_values=variables, operation_name=operation_name
        )
        if result.errors:
            return None
        # Kept as its encoded JSON: one object for the collector instead of ~20,000 dicts.
        return {"data": orjson.Fragment(orjson.dumps(result.data))}
