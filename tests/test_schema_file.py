"""The committed schema.graphql is the schema, and the schema documents itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    is_specified_scalar_type,
)

from app.resolvers.export import REGENERATE, SCHEMA_FILE
from app.resolvers.root import build_schema, schema_sdl


def test_committed_schema_file_is_current() -> None:
    assert SCHEMA_FILE.exists(), f"schema.graphql is missing: run `{REGENERATE}`."
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == schema_sdl(), (
        f"schema.graphql is stale: run `{REGENERATE}` and commit the result."
    )


def test_export_check_mode() -> None:
    """`--check` passes on the committed file and fails (exit 1) on a stale one."""
    ok = subprocess.run(
        [sys.executable, "-m", "app.resolvers.export", "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr


def test_export_check_detects_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "schema.graphql"
    stale.write_text("type Query { old: Int }\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "app.resolvers.export", "--check", "--output", str(stale)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert REGENERATE in result.stderr
    written = subprocess.run(
        [sys.executable, "-m", "app.resolvers.export", "--output", str(stale)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert written.returncode == 0, written.stderr
    assert stale.read_text(encoding="utf-8") == schema_sdl()


def _public_types(schema: GraphQLSchema) -> list[GraphQLNamedType]:
    return [
        t
        for name, t in sorted(schema.type_map.items())
        if not name.startswith("__") and not is_specified_scalar_type(t)
    ]


def _undocumented(schema: GraphQLSchema) -> list[str]:
    """Every public type, field, argument and input field without a description.

    Enum values are exempt (their names say what they are; the enum type is documented), and
    so is a mutation's single `input` argument: by convention it is documented by its input
    type, which is checked like every other type."""
    missing: list[str] = []

    def blank(text: str | None) -> bool:
        return not (text or "").strip()

    for named in _public_types(schema):
        if blank(named.description):
            missing.append(f"type {named.name}")
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                if blank(field.description):
                    missing.append(f"field {named.name}.{field_name}")
                for arg_name, arg in field.args.items():
                    exempt = (
                        named is schema.mutation_type
                        and arg_name == "input"
                        and list(field.args) == ["input"]
                    )
                    if blank(arg.description) and not exempt:
                        missing.append(f"argument {named.name}.{field_name}({arg_name})")
        elif isinstance(named, GraphQLInputObjectType):
            for field_name, input_field in named.fields.items():
                if blank(input_field.description):
                    missing.append(f"input field {named.name}.{field_name}")
        elif isinstance(named, GraphQLEnumType):
            pass  # the type's own description was checked above; values are exempt
    return missing


def test_everything_public_has_a_description() -> None:
    missing = _undocumented(build_schema()._schema)
    assert missing == [], "descriptions are the API docs; add them for:\n" + "\n".join(missing)


def test_mutations_take_one_input_argument() -> None:
    """API convention: every mutation takes exactly one argument, `input`."""
    mutation = build_schema()._schema.mutation_type
    assert mutation is not None
    odd = [name for name, field in mutation.fields.items() if list(field.args) != ["input"]]
    assert odd == [], f"mutations not taking exactly one `input`: {odd}"


def test_schema_file_names_its_roots_and_no_object_is_called_subscription() -> None:
    """Tools that read schema.graphql (graphql-js `buildSchema`, code generators) take a type
    named `Subscription` for the subscription root: the customer's subscription object is
    `CustomerSubscription`, and the file says which types are the roots."""
    from graphql import build_schema as build_from_sdl

    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed.startswith("schema {\n"), "schema.graphql must open with a schema block"
    rebuilt = build_from_sdl(committed)
    assert rebuilt.query_type is not None and rebuilt.query_type.name == "Query"
    assert rebuilt.mutation_type is not None and rebuilt.mutation_type.name == "Mutation"
    subscription_root = rebuilt.subscription_type
    named_subscription = rebuilt.type_map.get("Subscription")
    assert named_subscription is None or named_subscription is subscription_root
    assert isinstance(rebuilt.type_map.get("CustomerSubscription"), GraphQLObjectType)
