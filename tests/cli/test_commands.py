"""The command line itself: `allot --version`, help summaries that are never cut off, and
`--dry-run` output that says what it *would* do."""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import pytest
import typer

from app.cli.main import cli
from tests.e2e.process import run_allot

GROUPS = ["", "keys", "catalog", "jobs", "environments"]

CATALOG = """
features:
  - { id: seats, type: METERED, unit: seat }
products:
  - id: app
    plans:
      - { id: basic, pricingType: FREE, entitlements: { seats: { limit: 3 } } }
"""


def test_version(data_dir: Path) -> None:
    result = run_allot(["--version"], {"PATH": "/usr/bin:/bin", "ALLOT_DATA_DIR": str(data_dir)})
    assert result.returncode == 0, result
    assert result.stdout == f"allot {version('allot')}\n"
    assert not data_dir.exists()  # no database was needed for it


def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("columns", ["60", "80"])
def test_help_summaries_are_whole_sentences(columns: str, data_dir: Path) -> None:
    root = typer.main.get_command(cli)
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": columns, "ALLOT_DATA_DIR": str(data_dir)}
    for group in GROUPS:
        result = run_allot([*([group] if group else []), "--help"], env)
        assert result.returncode == 0, result
        listing = result.stdout.split("Commands:", 1)[1]
        assert "..." not in listing, result.stdout
        command = root.commands[group] if group else root  # type: ignore[attr-defined]
        text = one_line(listing)
        for name, sub in command.commands.items():
            summary = sub.get_short_help_str(limit=10_000)
            assert summary.endswith((".", ")")), (name, summary)  # a whole sentence
            assert f"{name} {summary}" in text, (group, name, result.stdout)


def test_dry_run_says_what_it_would_do(
    fresh_env: Callable[[], dict[str, str]], tmp_path: Path
) -> None:
    env = fresh_env()
    assert run_allot(["migrate"], env).returncode == 0
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG)
    apply = ["catalog", "apply", str(path), "--environment", "development"]
    for _ in range(2):  # the second dry run sees the same: nothing was written
        dry = run_allot([*apply, "--dry-run"], env)
        assert dry.returncode == 0, dry
        lines = dry.stdout.splitlines()
        assert lines == [
            "WOULD CREATE  FEATURE seats",
            "WOULD CREATE  PRODUCT app",
            "WOULD CREATE  PLAN    basic",
            "WOULD PUBLISH PLAN    basic  (version 1)",
        ], dry.stdout
        assert "would make 4 change(s)" in dry.stderr and "nothing was written" in dry.stderr
    real = run_allot(apply, env)
    assert real.returncode == 0, real
    assert real.stdout.splitlines()[0] == "CREATED   FEATURE seats"
    assert "made 4 change(s)" in real.stderr
