"""First start: on an empty database, create an account, its environments and their keys.

`allot serve` and `allot migrate` call `bootstrap_if_empty` after migrating. It does something
only while the database has no account, so it runs at most once per database. `serve` asks for
a server key per environment: they exist in clear only in its result (the database keeps
their hashes), so it prints them once. `migrate` makes no keys (nothing secret in a deploy
log); `allot keys create` makes them when they are needed.

`serve` also makes the first admin user when the installation's account has none
(`ensure_first_admin`: `admin@localhost`, or ALLOT_ADMIN_EMAIL) with a generated password,
printed once with the keys (or alone, when `migrate` bootstrapped): the next start finds a user
and prints nothing. `allot users create` makes more; `migrate` makes none (no secrets in a
deploy log).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.auth import KeyKind, UserRole
from app.clock import Clock
from app.db import Database
from app.domain import audit
from app.domain import users as user_rules
from app.domain.audit import AuditActor
from app.store import locks
from app.store import tenancy as store
from app.store import users as user_store

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


@dataclass(frozen=True)
class FirstAdmin:
    """The admin user a first start made. `password` is a secret: show it once, keep nothing."""

    email: str
    password: str


async def ensure_first_admin(db: Database, email: str) -> FirstAdmin | None:
    """An admin user with a generated password for the installation's account (the oldest),
    only if it has no user yet (any user, even disabled: then an admin exists or existed and
    the CLI manages them). None otherwise."""
    async with audit.transaction(db, AuditActor.cli("bootstrap")) as session:
        await locks.lock_bootstrap(session)  # two first starts at once: one makes the admin
        account = await store.first_account(session)
        if account is None or await user_store.count_users(session, account.pk) > 0:
            return None
        password = user_rules.generate_password()
        await user_rules.create_user(
            session, account.pk, email, "Admin", UserRole.ADMIN, password, Clock().now()
        )
    return FirstAdmin(email=email, password=password)


def admin_lines(admin: FirstAdmin, console_url: str | None) -> list[str]:
    where = f" at {console_url}" if console_url else ""
    return [
        f"Console admin login{where} (the password is shown only this once; "
        "`allot users create` makes more users):",
        "",
        f"  email     {admin.email}",
        f"  password  {admin.password}",
    ]


def admin_banner(admin: FirstAdmin, console_url: str | None = None) -> str:
    """What `allot serve` prints once when it made the first admin of an existing account."""
    rule = "=" * 78
    return "\n".join([rule, *admin_lines(admin, console_url), rule])


def key_banner(
    result: Bootstrap,
    graphiql_url: str | None = None,
    admin: FirstAdmin | None = None,
    console_url: str | None = None,
) -> str:
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
    if admin is not None:
        lines += ["", *admin_lines(admin, console_url)]
    lines.append(rule)
    return "\n".join(lines)
