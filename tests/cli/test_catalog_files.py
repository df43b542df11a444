"""The command-line layer of catalog as code: files in YAML or JSON, apply and export by
environment name."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.cli.catalog_files import apply_file, export_environment, format_change, load_document
from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.domain.catalog.document import Change
from app.errors import DomainError, DomainErrors, ErrorCode
from app.store import tenancy
from tests.graphql.test_catalog_code import EXAMPLE_CHANGES, EXAMPLE_YAML

DOCS = Path(__file__).resolve().parents[2] / "docs" / "catalog-as-code.md"


async def new_environment(db: Database) -> str:
    """An environment with a slug no other test uses (slugs are looked up by name)."""
    slug = f"cli-{uuid.uuid4().hex[:12]}"
    async with audit.transaction(db, AuditActor.cli("tests: new_environment")) as session:
        account = await tenancy.create_account(session, "cli test")
        await tenancy.create_environment(session, account.pk, slug, slug)
    return slug


def as_tuples(changes: list[Change]) -> list[tuple[str, str, str, str | None]]:
    return [(c.kind, c.entity, c.id, c.detail) for c in changes]


# --- reading files ------------------------------------------------------------------------


def test_load_yaml_and_json(tmp_path: Path) -> None:
    expected = yaml.safe_load(EXAMPLE_YAML)
    (tmp_path / "catalog.yaml").write_text(EXAMPLE_YAML)
    (tmp_path / "catalog.yml").write_text(EXAMPLE_YAML)
    (tmp_path / "catalog.json").write_text(json.dumps(expected))
    (tmp_path / "catalog.txt").write_text(json.dumps(expected))  # sniffed: JSON
    (tmp_path / "catalog").write_text(EXAMPLE_YAML)  # sniffed: YAML
    for name in ("catalog.yaml", "catalog.yml", "catalog.json", "catalog.txt", "catalog"):
        assert load_document(tmp_path / name) == expected, name


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.yaml", "features:\n  - id: seats\n    type: [METERED\n", "not valid YAML (line"),
        ("bad.json", '{"features": [}', "not valid JSON (line 1, column 15)"),
        ("dup.yaml", "features: []\nfeatures: []\n", "duplicate key 'features'"),
        ("dup.json", '{"features": [], "features": []}', "duplicate key 'features'"),
        ("empty.yaml", "# nothing\n", "the file is empty"),
        ("list.yaml", "- id: seats\n", "not a list"),
        ("scalar.json", "42", "not a int"),
    ],
)
def test_malformed_files_are_refused_clearly(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DomainError) as raised:
        load_document(path)
    assert raised.value.code == ErrorCode.INVALID_CATALOG
    assert str(path) in raised.value.message
    assert message in raised.value.message


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DomainError) as raised:
        load_document(tmp_path / "nope.yaml")
    assert raised.value.code == ErrorCode.INVALID_INPUT
    assert "cannot read" in raised.value.message


# --- apply and export ---------------------------------------------------------------------


async def test_apply_yaml_export_and_apply_json_elsewhere(db: Database, tmp_path: Path) -> None:
    source = await new_environment(db)
    target = await new_environment(db)
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(EXAMPLE_YAML)

    assert as_tuples(await apply_file(db, source, catalog, dry_run=True)) == EXAMPLE_CHANGES
    assert yaml.safe_load(await export_environment(db, source, "yaml"))["features"] == []
    assert as_tuples(await apply_file(db, source, catalog, dry_run=False)) == EXAMPLE_CHANGES
    assert await apply_file(db, source, catalog, dry_run=False) == []

    exported_yaml = await export_environment(db, source, "yaml")
    exported_json = await export_environment(db, source, "json")
    document: dict[str, Any] = yaml.safe_load(exported_yaml)
    assert json.loads(exported_json) == document
    assert "amount: '49.00'" in exported_yaml  # money stays a string, not a float
    assert exported_json.endswith("\n")

    promoted = tmp_path / "export.json"
    promoted.write_text(exported_json)
    changes = await apply_file(db, target, promoted, dry_run=False)
    assert len(changes) == len(EXAMPLE_CHANGES)
    assert await export_environment(db, target, "json") == exported_json

    # The YAML export applies back to where it came from as a no-op.
    round_trip = tmp_path / "export.yaml"
    round_trip.write_text(exported_yaml)
    assert await apply_file(db, source, round_trip, dry_run=False) == []


async def test_an_invalid_file_changes_nothing(db: Database, tmp_path: Path) -> None:
    slug = await new_environment(db)
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE_YAML.replace("seats: { limit: 10 }", "seats: { limit: ten }"))
    with pytest.raises((DomainError, DomainErrors)) as raised:
        await apply_file(db, slug, bad, dry_run=False)
    error = raised.value
    assert isinstance(error, DomainError)
    assert error.field == ["products", "0", "plans", "1", "entitlements", "seats", "limit"]
    assert json.loads(await export_environment(db, slug, "json"))["products"] == []


async def test_unknown_environment_and_format(db: Database, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(EXAMPLE_YAML)
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(DomainError) as raised:
        await apply_file(db, missing, catalog, dry_run=True)
    assert raised.value.code == ErrorCode.ENVIRONMENT_NOT_FOUND
    with pytest.raises(DomainError) as raised:
        await export_environment(db, missing, "yaml")
    assert raised.value.code == ErrorCode.ENVIRONMENT_NOT_FOUND
    with pytest.raises(DomainError) as raised:
        await export_environment(db, await new_environment(db), "toml")
    assert raised.value.code == ErrorCode.INVALID_INPUT


def test_format_change() -> None:
    assert format_change(Change("PUBLISHED", "PLAN", "pro", "version 2")) == (
        "PUBLISHED PLAN    pro  (version 2)"
    )
    assert format_change(Change("CREATED", "FEATURE", "seats")) == "CREATED   FEATURE seats"


async def test_the_example_in_the_docs_applies(db: Database, tmp_path: Path) -> None:
    docs = DOCS.read_text()
    example = docs.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "docs-example.yaml"
    path.write_text(example)
    slug = await new_environment(db)
    changes = await apply_file(db, slug, path, dry_run=False)
    assert ("PUBLISHED", "ADDON", "extra-seats", "version 1") in as_tuples(changes)
    assert await apply_file(db, slug, path, dry_run=False) == []
