"""`allot users create|list|disable`: the console's users, for operators.

Users belong to the account, not to an environment: the commands act on the installation's
account (the first start's), or on the account of the environment `--environment` names."""

from __future__ import annotations

import sys
import uuid
from enum import StrEnum
from typing import Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import UserRole
from app.cli.base import (
    CliError,
    find_environment,
    print_listing,
    run_against_database,
    users_cli,
)
from app.clock import Clock
from app.db import Database
from app.domain import audit
from app.domain import users as rules
from app.domain.audit import AuditActor
from app.settings import Settings
from app.store import tenancy as tenancy_store
from app.store import users as store

ACCOUNT_HELP = (
    "An environment (slug) of the account, e.g. production; default: the installation's account."
)


PASSWORD_STDIN_HELP = (
    "Read the password from stdin (first line); without it one is generated and printed once."
)
GENERATED_PASSWORD_NOTE = "Their password (store it now, it is not shown again):"


class RoleOption(StrEnum):
    admin = "admin"
    member = "member"


async def _account(session: AsyncSession, environment: str | None) -> uuid.UUID:
    if environment:
        return (await find_environment(session, environment)).account_pk
    account = await tenancy_store.first_account(session)
    if account is None:
        raise CliError("the database has no account yet: run `allot migrate` first")
    return account.pk


async def _user(
    session: AsyncSession, environment: str | None, email: str
) -> tuple[uuid.UUID, uuid.UUID]:
    """The account's pk and the pk of its user `email` (a CliError when there is none)."""
    account_pk = await _account(session, environment)
    user = await store.find_user_by_email(session, account_pk, email.strip().lower())
    if user is None:
        raise CliError(f"no user {email!r} in the account (see `allot users list`)")
    return account_pk, user.pk


def _password(password_stdin: bool) -> str:
    """The first line of stdin with --password-stdin, else a generated password."""
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return rules.generate_password()


def _show_generated(password_stdin: bool, password: str) -> None:
    """A generated password is printed once, last (one given on stdin never is)."""
    if not password_stdin:
        typer.echo(GENERATED_PASSWORD_NOTE)
        typer.echo(password)


@users_cli.command("create")
def users_create(
    email: str = typer.Option(..., "--email", help="The user's email: their login."),
    name: str = typer.Option("", "--name", help="The user's name."),
    role: RoleOption = typer.Option(
        RoleOption.member, "--role", help="admin (manages users and keys) or member."
    ),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=PASSWORD_STDIN_HELP),
    environment: str | None = typer.Option(None, "--environment", "-e", help=ACCOUNT_HELP),
) -> None:
    """Create a console user; a generated password is the last line of the output (shown
    only once)."""
    settings = Settings.from_env()
    password = _password(password_stdin)

    async def work(db: Database) -> str:
        async with audit.transaction(db, AuditActor.cli("users create")) as session:
            account_pk = await _account(session, environment)
            user = await rules.create_user(
                session, account_pk, email, name, UserRole(role.value), password, Clock().now()
            )
        return user.email

    created = run_against_database(settings, work, "users create")
    typer.echo(f"Created {role.value} user {created}.")
    _show_generated(password_stdin, password)


@users_cli.command("list")
def users_list(
    environment: str | None = typer.Option(None, "--environment", "-e", help=ACCOUNT_HELP),
    output_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the account's users (emails, roles, status; never a password)."""
    settings = Settings.from_env()

    async def work(db: Database) -> list[dict[str, Any]]:
        async with db.session() as session:
            account_pk = await _account(session, environment)
            users = await store.list_users(session, account_pk)
        return [
            {
                "id": str(u.pk),
                "email": u.email,
                "name": u.name,
                "role": u.role,
                "createdAt": u.created_at.isoformat(),
                "lastLoginAt": u.last_login_at.isoformat() if u.last_login_at else None,
                "disabledAt": u.disabled_at.isoformat() if u.disabled_at else None,
            }
            for u in users
        ]

    def table(users: list[dict[str, Any]]) -> None:
        width = max([len("EMAIL"), *(len(u["email"]) for u in users)])
        typer.echo(f"{'EMAIL':{width}}  {'ROLE':6}  {'STATUS':8}  {'LAST LOGIN':19}  NAME")
        for user in users:
            status = "disabled" if user["disabledAt"] else "active"
            last = (user["lastLoginAt"] or "never")[:19]
            typer.echo(
                f"{user['email']:{width}}  {user['role']:6}  {status:8}  {last:19}  {user['name']}"
            )

    print_listing(settings, work, output_json=output_json, table=table)


@users_cli.command("disable")
def users_disable(
    email: str = typer.Argument(..., metavar="EMAIL", help="The user's email."),
    environment: str | None = typer.Option(None, "--environment", "-e", help=ACCOUNT_HELP),
) -> None:
    """Disable a user at once: no more logins, their sessions end."""
    settings = Settings.from_env()

    async def work(db: Database) -> None:
        async with audit.transaction(db, AuditActor.cli("users disable")) as session:
            account_pk, user_pk = await _user(session, environment, email)
            await rules.disable_user(session, account_pk, user_pk, Clock().now())

    run_against_database(settings, work, "users disable")
    typer.echo(f"Disabled user {email.strip().lower()}.")


@users_cli.command("set-password")
def users_set_password(
    email: str = typer.Argument(..., metavar="EMAIL", help="The user's email."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=PASSWORD_STDIN_HELP),
    environment: str | None = typer.Option(None, "--environment", "-e", help=ACCOUNT_HELP),
) -> None:
    """Give a user a new password (a forgotten one, the first admin's); their sessions end."""
    settings = Settings.from_env()
    password = _password(password_stdin)

    async def work(db: Database) -> None:
        async with audit.transaction(db, AuditActor.cli("users set-password")) as session:
            account_pk, user_pk = await _user(session, environment, email)
            await rules.set_password(session, account_pk, user_pk, password, Clock().now())

    run_against_database(settings, work, "users set-password")
    typer.echo(f"Set a new password for {email.strip().lower()}.")
    _show_generated(password_stdin, password)
