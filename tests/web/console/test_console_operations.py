"""Every GraphQL document of the console is valid against the server's schema.

The console is a plain client of /graphql: when a field or argument it uses is renamed, this
fails here rather than on a page in the browser.
"""

from __future__ import annotations

import re

import pytest
from graphql import GraphQLSchema, OperationDefinitionNode, parse, validate

from app.resolvers.root import build_schema
from app.settings import Settings
from app.web.console_documents import OPERATIONS_JS, definitions, document_of

OPERATIONS, FRAGMENTS = definitions()


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema(Settings())._schema


def test_the_file_defines_the_console_operations() -> None:
    assert len(OPERATIONS) >= 30, sorted(OPERATIONS)
    assert FRAGMENTS


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_operation_is_valid_against_the_schema(schema: GraphQLSchema, name: str) -> None:
    document = parse(document_of(name))
    errors = validate(schema, document)
    assert not errors, f"{name}: " + "; ".join(e.message for e in errors)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) == 1
    assert operations[0].name is not None and operations[0].name.value == name


def test_every_fragment_is_used() -> None:
    used = set()
    for text in [*OPERATIONS.values(), *FRAGMENTS.values()]:
        used |= set(re.findall(r"\.\.\.\s*([A-Za-z_]\w*)", text))
    assert set(FRAGMENTS) <= used, set(FRAGMENTS) - used


def test_pages_only_run_defined_operations() -> None:
    """Every gql("Name", ...) / useQuery("Name", ...) of the pages names an operation."""
    called: set[str] = set()
    for path in OPERATIONS_JS.parent.rglob("*.js"):
        if "vendor" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        called |= set(re.findall(r'\b(?:gql|useQuery)\("(\w+)"', text))
        # act("Name", ...) helpers pass operation names on.
        called |= set(re.findall(r'\bact\("(\w+)"', text))
    assert called, "no operation calls found"
    assert called <= set(OPERATIONS), called - set(OPERATIONS)
