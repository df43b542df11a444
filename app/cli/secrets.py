"""`allot secrets generate-key|rotate`: the key that encrypts secrets at rest
(app/secrets_at_rest.py; docs/security.md, Secrets at rest)."""

from __future__ import annotations

import typer

from app import secrets_at_rest
from app.cli.base import open_database, run_with_db, secrets_cli
from app.clock import Clock
from app.db import Database
from app.settings import Settings


@secrets_cli.command("generate-key")
def generate_key() -> None:
    """Print a new secret key (for ALLOT_SECRET_KEY); nothing is changed."""
    typer.echo(secrets_at_rest.generate_key())


@secrets_cli.command("rotate")
def rotate() -> None:
    """Re-encrypt every stored secret under the first key of ALLOT_SECRET_KEY.

    Set ALLOT_SECRET_KEY="<new key>,<old key>" (the old key still decrypts), run this, then
    drop the old key from ALLOT_SECRET_KEY and restart the servers."""
    settings = Settings.from_env()

    async def work(db: Database) -> int:
        from app.store.secrets import reencrypt_all

        async with db.transaction() as session:
            return await reencrypt_all(session, secrets_at_rest.current(), Clock().now())

    with open_database(settings, migrate=False) as url:
        count = run_with_db(url, work)
        keyring = secrets_at_rest.current()
    typer.echo(
        f"allot: re-encrypted {count} secret(s) under the first key of {keyring.source}"
        + ("; the other keys can now be removed." if keyring.size > 1 else "."),
        err=True,
    )
