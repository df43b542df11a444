"""`allot keys create|list|revoke`."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

import typer

from app.auth import KeyKind
from app.cli.base import (
    ENVIRONMENT_HELP,
    CliError,
    find_environment,
    keys_cli,
    open_database,
    print_listing,
    run_with_db,
)
from app.clock import Clock
from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.settings import Settings
from app.store import tenancy as store

# --- keys ----------------------------------------------------------------------------------


class KindOption(StrEnum):
    server = "server"
    client = "client"


@keys_cli.command("create")
def keys_create(
    environment: str = typer.Option(..., "--environment", "-e", help=ENVIRONMENT_HELP),
    kind: KindOption = typer.Option(
        ..., "--kind", help="server (full access) or client (publishable: checks and reads)."
    ),
    name: str = typer.Option("", "--name", help="A label to recognise the key by."),
) -> None:
    """Create an API key; the key itself is the last line of the output (shown only once)."""
    settings = Settings.from_env()

    async def work(db: Database) -> tuple[str, str]:
        async with audit.transaction(db, AuditActor.cli("keys create")) as session:
            env = await find_environment(session, environment)
            row, secret = await store.create_api_key(session, env.pk, KeyKind(kind.value), name)
        return str(row.pk), secret

    with open_database(settings, migrate=False) as url:
        key_id, secret = run_with_db(url, work)
    label = f" {name!r}" if name else ""
    typer.echo(f"Created {kind.value} key{label} {key_id} in environment {environment}.")
    typer.echo("Store it now, it is not shown again:")
    typer.echo(secret)


@keys_cli.command("list")
def keys_list(
    environment: str = typer.Option(..., "--environment", "-e", help=ENVIRONMENT_HELP),
    output_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the API keys of an environment (ids, kinds, prefixes; never the secrets)."""
    settings = Settings.from_env()

    async def work(db: Database) -> list[dict[str, Any]]:
        async with db.session() as session:
            env = await find_environment(session, environment)
            keys = await store.list_api_keys(session, env.pk)
        return [
            {
                "id": str(key.pk),
                "kind": key.kind,
                "name": key.name,
                "prefix": key.prefix,
                "createdAt": key.created_at.isoformat(),
                "revokedAt": key.revoked_at.isoformat() if key.revoked_at else None,
            }
            for key in keys
        ]

    def table(keys: list[dict[str, Any]]) -> None:
        header = f"{'ID':36}  {'KIND':6}  {'PREFIX':14}  {'CREATED':19}  {'STATUS':7}  NAME"
        typer.echo(header)
        for key in keys:
            status = "revoked" if key["revokedAt"] else "active"
            typer.echo(
                f"{key['id']:36}  {key['kind']:6}  {key['prefix']:14}  "
                f"{key['createdAt'][:19]:19}  {status:7}  {key['name']}"
            )

    print_listing(settings, work, output_json=output_json, table=table)


@keys_cli.command("revoke")
def keys_revoke(
    key_id: str = typer.Argument(..., metavar="KEY_ID", help="The key's id (`allot keys list`)."),
    environment: str = typer.Option(..., "--environment", "-e", help=ENVIRONMENT_HELP),
) -> None:
    """Revoke an API key at once."""
    settings = Settings.from_env()
    try:
        key_pk = uuid.UUID(key_id)
    except ValueError:
        raise CliError(f"{key_id!r} is not a key id (see `allot keys list`)") from None

    async def work(db: Database) -> bool:
        async with audit.transaction(db, AuditActor.cli("keys revoke")) as session:
            env = await find_environment(session, environment)
            revoked = await store.revoke_api_key(session, env.pk, key_pk, Clock().now())
        return revoked is not None

    with open_database(settings, migrate=False) as url:
        if not run_with_db(url, work):
            raise CliError(
                f"no active key {key_id} in environment {environment} (already revoked?)"
            )
    typer.echo(f"Revoked key {key_id} in environment {environment}.")
