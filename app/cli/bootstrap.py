"""First start: on an empty database, create an account, its environments and their keys.

`allot serve` and `allot migrate` call `bootstrap_if_empty` after migrating. It does something
only while the database has no account, so it runs at most once per database. `serve` asks for
a server key per environment: they exist in clear only in its result (the database keeps
their hashes), so it prints them once. `migrate` makes no keys (nothing secret in a deploy
log); `allot keys create` makes them when they are needed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.auth import KeyKind
from app.db import Database
from app.domain import audit
from app.domain.audit import AuditActor
from app.store import locks
from app.store import tenancy as store

DEFAULT_ACCOUNT_NAME = "default"

# (slug, display name), in the order they are created and printed.
DEFAULT_ENVIRONMENTS: tuple[tuple[str, str], ...] = (
    ("development", "Development"),
    ("production", "Production"),
)

@dataclass(frozen=True)
class Bootstrap:
    """What a first start created. `server_keys` holds secrets: show them once, keep nothing."""

    account_pk: uuid.UUID
    environments: dict[str, uuid.UUID]
    server_keys: dict[str, str]


async def bootstrap_if_empty(
    db: Database, account_name: str = DEFAULT_ACCOUNT_NAME, with_keys: bool = True
) -> Bootstrap | None:
    """Create the account, `development` and `production`, and (`with_keys`) one server key
    for each, in one transaction — only if the database has no account yet. Returns None
    otherwise."""
    actor = AuditActor.cli("bootstrap")
    async with audit.transaction(db, actor) as session:
        await locks.lock_bootstrap(session)  # two first starts at once: one bootstraps
        if await store.count_accounts(session) > 0:
            return None
        account = await store.create_account(session, account_name)
        environments: dict[str, uuid.UUID] = {}
        server_keys: dict[str, str] = {}
        for slug, name in DEFAULT_ENVIRONMENTS:
            environment = await store.create_environment(session, account.pk, slug, name)
            environments[slug] = environment.pk
            if not with_keys:
                continue
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
