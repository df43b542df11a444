"""`allot catalog apply|export`: catalog as code."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from app.cli.base import (
    ENVIRONMENT_HELP,
    catalog_cli,
    find_environment,
    run_against_database,
    user_error,
)
from app.db import Database
from app.settings import Settings

# --- catalog -------------------------------------------------------------------------------


class ExportFormat(StrEnum):
    yaml = "yaml"
    json = "json"


# A dry run lists what it *would* do, so that its output is never mistaken for a change made.
WOULD = {
    "CREATED": "WOULD CREATE",
    "UPDATED": "WOULD UPDATE",
    "PUBLISHED": "WOULD PUBLISH",
    "ARCHIVED": "WOULD ARCHIVE",
}


def format_planned(change: Any) -> str:
    """A dry run's line, e.g. `WOULD PUBLISH PLAN    pro  (version 2)`."""
    line = f"{WOULD.get(change.kind, 'WOULD ' + change.kind):<13} {change.entity:<7} {change.id}"
    return f"{line}  ({change.detail})" if change.detail else line


@catalog_cli.command("apply")
def catalog_apply(
    file: Path = typer.Argument(..., metavar="FILE", help="A catalog in YAML or JSON."),
    environment: str = typer.Option(..., "--environment", "-e", help=ENVIRONMENT_HELP),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the changes it would make, and make none."
    ),
) -> None:
    """Apply a catalog file to an environment and print what changed (or would change)."""
    from app.cli import catalog_files
    from app.errors import DomainError, DomainErrors

    settings = Settings.from_env()
    try:
        catalog_files.load_document(file)  # a bad file fails before the database starts
    except (DomainError, DomainErrors) as exc:
        raise user_error(exc) from None

    async def work(db: Database) -> list[Any]:
        async with db.session() as session:
            await find_environment(session, environment)
        return list(await catalog_files.apply_file(db, environment, file, dry_run))

    changes = run_against_database(settings, work, str(file))
    for change in changes:
        typer.echo(format_planned(change) if dry_run else catalog_files.format_change(change))
    verb = "would make" if dry_run else "made"
    summary = f"{len(changes)} change(s)" if changes else "no change"
    note = " (dry run: nothing was written)" if dry_run else ""
    typer.echo(f"allot: {verb} {summary} in {environment}{note}.", err=True)


@catalog_cli.command("export")
def catalog_export(
    environment: str = typer.Option(..., "--environment", "-e", help=ENVIRONMENT_HELP),
    fmt: ExportFormat = typer.Option(ExportFormat.yaml, "--format", "-f", help="yaml or json."),
) -> None:
    """Print an environment's catalog (YAML or JSON) on stdout, ready for `catalog apply`."""
    from app.cli import catalog_files

    settings = Settings.from_env()

    async def work(db: Database) -> str:
        async with db.session() as session:
            await find_environment(session, environment)
        return await catalog_files.export_environment(db, environment, fmt.value)

    text = run_against_database(settings, work)
    typer.echo(text, nl=not text.endswith("\n"))
