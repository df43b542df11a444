"""First start: on an empty database, create an account, its environments and their keys.

`allot serve` calls `bootstrap_if_empty` after migrating. It does something only while the
database has no account, so it runs at most once per database; the keys it returns exist in
clear only in its result (the database keeps their hashes), so the caller prints them once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text

from app.auth import KeyKind
from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.store import tenancy as store

DEFAULT_ACCOUNT_NAME = "default"

# (slug, display name), in the order they are created and printed.
DEFAULT_ENVIRONMENTS: tuple[tuple[str, str], ...] = (
    ("development", "Development"),
    ("production", "Production"),
)

# Serialises concurrent first starts (two `allot serve` on one fresh database): the second
# waits for the first transaction, then sees an account and does nothing.
_BOOTSTRAP_LOCK_ID = 0x616C6C6F74  # "allot"


@dataclass(frozen=True)
class Bootstrap:
    """What a first start created. `server_keys` holds secrets: show them once, keep nothing."""

    account_pk: uuid.UUID
    environments: dict[str, uuid.UUID]
    server_keys: dict[str, str]


async def bootstrap_if_empty(
    db: Database, account_name: str = DEFAULT_ACCOUNT_NAME
) -> Bootstrap | None:
    """Create the account, `development` and `production`, and one server key for each, in
    one transaction — only if the database has no account yet. Returns None otherwise."""
    actor = AuditActor.cli("bootstrap")
    async with audit.transaction(db, actor) as session:
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _BOOTSTRAP_LOCK_ID}
        )
        if await store.count_accounts(session) > 0:
            return None
        account = await store.create_account(session, account_name)
        environments: dict[str, uuid.UUID] = {}
        server_keys: dict[str, str] = {}
        for slug, name in DEFAULT_ENVIRONMENTS:
            environment = await store.create_environment(session, account.pk, slug, name)
            environments[slug] = environment.pk
            _, secret = await store.create_api_key(
                session, environment.pk, KeyKind.SERVER, name="bootstrap"
            )
            server_keys[slug] = secret
    return Bootstrap(account_pk=account.pk, environments=environments, server_keys=server_keys)


def key_banner(result: Bootstrap, graphiql_url: str | None = None) -> str:
    """The text `allot serve` prints once on stdout after a first start."""
    width = max(len(slug) for slug in result.server_keys)
    rule = "=" * 78
    lines = [
        rule,
        f'allot: new installation: account "{DEFAULT_ACCOUNT_NAME}" with environments '
        + ", ".join(result.server_keys),
        "Server API keys (shown only this once, store them now; `allot keys create` makes more):",
        "",
    ]
    for slug, secret in result.server_keys.items():
        lines.append(f"  {slug.ljust(width)}  server key  {secret}")
    if graphiql_url and "development" in result.server_keys:
        lines += [
            "",
            "GraphiQL with the development key:",
            f"  {graphiql_url}?key={result.server_keys['development']}",
        ]
    lines.append(rule)
    return "\n".join(lines)
