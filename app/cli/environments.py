"""`allot environments create|list`: environments beyond `development` and `production`."""

from __future__ import annotations

import re
from typing import Any

import typer
from sqlalchemy.exc import IntegrityError

from app.cli.base import CliError, environments_cli, open_database, print_listing, run_with_db
from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.models import Account
from app.settings import Settings
from app.store import tenancy as store

# What `--environment` takes: short, lowercase, safe in URLs, file names and shell scripts.
SLUG = re.compile(r"[a-z][a-z0-9-]{0,62}")


async def _the_account(session: Any) -> Account:
    """The installation's account: the one the first `allot migrate` or `serve` created (the
    oldest, should there ever be more)."""
    account = await store.first_account(session)
    if account is None:
        raise CliError("the database has no account yet: run `allot migrate` first")
    return account


@environments_cli.command("create")
def environments_create(
    name: str = typer.Argument(..., metavar="NAME", help="Its name (slug), e.g. staging."),
    display_name: str = typer.Option(
        "", "--display-name", help="A human name; NAME capitalised when omitted."
    ),
) -> None:
    """Create an environment (an empty catalog, no customers, no keys)."""
    if not SLUG.fullmatch(name):
        raise CliError(
            f"{name!r} is not an environment name: lowercase letters, digits and '-', "
            "starting with a letter, at most 63 characters"
        )
    settings = Settings.from_env()
    title = display_name.strip() or name.replace("-", " ").capitalize()

    async def work(db: Database) -> None:
        try:
            actor = AuditActor.cli("environments create")
            async with audit.transaction(db, actor) as session:
                account = await _the_account(session)
                await store.create_environment(session, account.pk, name, title)
        except IntegrityError:
            raise CliError(f"an environment named {name!r} exists already") from None

    with open_database(settings, migrate=False) as url:
        run_with_db(url, work)
    typer.echo(f"Created environment {name}.")
    typer.echo(
        f"allot: next: `allot keys create --environment {name} --kind server`, and "
        f"`allot catalog apply FILE --environment {name}` for its catalog.",
        err=True,
    )


@environments_cli.command("list")
def environments_list(
    output_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the environments (name, display name, creation time)."""
    settings = Settings.from_env()

    async def work(db: Database) -> list[dict[str, Any]]:
        async with db.session() as session:
            account = await _the_account(session)
            rows = await store.list_environments(session, account.pk)
        return [
            {"name": e.slug, "displayName": e.name, "createdAt": e.created_at.isoformat()}
            for e in rows
        ]

    def table(environments: list[dict[str, Any]]) -> None:
        width = max([len("NAME"), *(len(e["name"]) for e in environments)])
        typer.echo(f"{'NAME':{width}}  {'CREATED':19}  DISPLAY NAME")
        for e in environments:
            typer.echo(f"{e['name']:{width}}  {e['createdAt'][:19]:19}  {e['displayName']}")

    print_listing(settings, work, output_json=output_json, table=table)
