"""Catalog as code from the shell: the functions behind `allot catalog apply` and
`allot catalog export`. They raise DomainError / DomainErrors (with the document path in
`field`) for anything the user can fix: a malformed file, an invalid catalog, an unknown
environment. The command line prints those and exits non-zero.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.domain.catalog.document import Change, apply_catalog, export_catalog
from app.errors import DomainError, ErrorCode
from app.store.tenancy import find_environment

FORMATS = ("yaml", "json")
YAML_SUFFIXES = (".yaml", ".yml")
JSON_SUFFIXES = (".json",)


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping (plain YAML keeps the last)."""


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, str | int | float | bool):
            continue  # complex keys: construct_mapping below reports what is wrong
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates
)


def _malformed(path: Path, reason: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_CATALOG, f"{path}: {reason}")


def _parse_json(path: Path, text: str) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise _malformed(path, f"duplicate key {key!r}")
            out[key] = value
        return out

    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as error:
        raise _malformed(
            path, f"not valid JSON (line {error.lineno}, column {error.colno}): {error.msg}"
        ) from None


def _parse_yaml(path: Path, text: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = error.problem or error.context or "malformed"
        raise _malformed(path, f"not valid YAML{where}: {problem}") from None
    except yaml.YAMLError as error:
        raise _malformed(path, f"not valid YAML: {error}") from None


def load_document(path: Path) -> Any:
    """Read a catalog document from a YAML (.yaml, .yml) or JSON (.json) file; any other
    name is read as JSON when it looks like JSON, else as YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DomainError(ErrorCode.INVALID_INPUT, f"cannot read {path}: {error}") from None
    suffix = path.suffix.lower()
    if suffix in JSON_SUFFIXES or (
        suffix not in YAML_SUFFIXES and text.lstrip().startswith(("{", "["))
    ):
        document = _parse_json(path, text)
    else:
        document = _parse_yaml(path, text)
    if document is None:
        raise _malformed(path, "the file is empty")
    if not isinstance(document, dict):
        raise _malformed(
            path,
            f"a catalog document is an object with features and products, not a "
            f"{type(document).__name__}",
        )
    return document


async def _environment_pk(session: Any, slug: str) -> Any:
    environment = await find_environment(session, slug)
    if environment is None:
        raise DomainError(
            ErrorCode.ENVIRONMENT_NOT_FOUND, f"no environment {slug!r}", ["environment"]
        )
    return environment.pk


async def apply_file(
    db: Database, environment_slug: str, path: Path, dry_run: bool = False
) -> list[Change]:
    """Apply the catalog document in `path` to the environment, in one transaction."""
    document = await asyncio.to_thread(load_document, path)
    now = datetime.now(UTC)
    async with audit.transaction(db, AuditActor.cli("catalog apply", now)) as session:
        env = await _environment_pk(session, environment_slug)
        return await apply_catalog(session, env, document, now, dry_run=dry_run)


async def export_environment(db: Database, environment_slug: str, fmt: str = "yaml") -> str:
    """The environment's catalog as YAML or JSON text (ending in a newline)."""
    if fmt not in FORMATS:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"format must be one of {', '.join(FORMATS)}", ["format"]
        )
    async with db.session() as session:
        env = await _environment_pk(session, environment_slug)
        document = await export_catalog(session, env)
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return str(yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100))


def format_change(change: Change) -> str:
    """One line of `allot catalog apply` output, e.g. `PUBLISHED  PLAN  pro  version 2`."""
    line = f"{change.kind:<9} {change.entity:<7} {change.id}"
    return f"{line}  ({change.detail})" if change.detail else line
