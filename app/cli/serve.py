"""`allot serve`, `allot migrate` and `allot jobs run-once`."""

from __future__ import annotations

import logging
import os
import signal
import socket

import typer
import uvicorn
from starlette.applications import Starlette

from app.cli.base import (
    GRACEFUL_SHUTDOWN_SECONDS,
    CliError,
    Shutdown,
    cli,
    describe,
    jobs_cli,
    log,
    log_config,
    open_database,
    run_with_db,
    user_error,
)
from app.clock import Clock
from app.db import Database
from app.settings import Settings
from app.store import tenancy as store

# --- serve ---------------------------------------------------------------------------------


def create_worker_app() -> Starlette:
    """uvicorn's app factory (import string `app.cli.serve:create_worker_app`): every worker reads
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


async def prepare_database(
    db: Database, demo: bool, base_url: str, settings: Settings | None = None
) -> None:
    """First start: bootstrap and print the keys once. `--demo`: load what of the demo data
    is missing, never touching anything else (app/cli/demo.py)."""
    from app.cli.bootstrap import admin_banner, bootstrap_if_empty, ensure_first_admin, key_banner

    result = await bootstrap_if_empty(db)
    admin = await ensure_first_admin(db, (settings or Settings()).admin_email)
    console_url = f"{base_url}/console/login"
    if result is not None:
        print(key_banner(result, f"{base_url}/graphql", admin, console_url), flush=True)
    elif admin is not None:
        print(admin_banner(admin, console_url), flush=True)
    if result is None:
        async with db.session() as session:
            keys = await store.count_active_server_keys(session)
        if keys == 0:  # bootstrapped by `allot migrate`, which makes no keys
            log.warning(
                "no active server key: make one with "
                "`allot keys create --environment development --kind server`"
            )
    if demo:
        from app.cli.demo import load_demo
        from app.errors import DomainError, DomainErrors

        async with db.session() as session:
            development = await store.find_environment(session, "development")
        if development is None:
            raise CliError("--demo: there is no environment named 'development' to load into")
        try:
            loaded = await load_demo(db, development, settings or Settings(), Clock().now())
        except (DomainError, DomainErrors) as exc:
            raise user_error(exc, "--demo: the demo catalog was not applied") from None
        level = logging.WARNING if loaded.failed or loaded.catalog == "skipped" else logging.INFO
        log.log(level, "--demo in development: %s", loaded.summary())


def _server_config(
    host: str, port: int, workers: int, access_log: bool, level: str, log_format: str = "text"
) -> uvicorn.Config:
    def available(module: str) -> bool:
        try:
            __import__(module)
        except ImportError:
            return False
        return True

    return uvicorn.Config(
        "app.cli.serve:create_worker_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop" if available("uvloop") else "asyncio",
        http="httptools" if available("httptools") else "h11",
        lifespan="on",
        log_config=log_config(level, log_format),
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
            run_with_db(url, lambda db: prepare_database(db, demo, base_url, settings))
            # The worker factory reads it; with workers > 1 they inherit it (spawned).
            os.environ["DATABASE_URL"] = url
            config = _server_config(
                host, port, workers, access_log, settings.log_level, settings.log_format
            )
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
    """Apply pending migrations, bootstrap an empty database, and exit.

    On an empty database it also creates the account and its environments (development,
    production), with no keys: make them with `allot keys create`."""
    from app.cli.bootstrap import DEFAULT_ACCOUNT_NAME, bootstrap_if_empty

    settings = Settings.from_env()
    with open_database(settings, migrate=True) as url:
        made = run_with_db(url, lambda db: bootstrap_if_empty(db, with_keys=False))
    typer.echo(f"allot: {describe(settings)} is migrated to the latest schema.", err=True)
    if made is not None:
        typer.echo(
            f'allot: new installation: account "{DEFAULT_ACCOUNT_NAME}" with environments '
            f"{', '.join(made.environments)}; no API key yet: "
            "`allot keys create --environment development --kind server` makes one.",
            err=True,
        )


# --- jobs ----------------------------------------------------------------------------------


@jobs_cli.command("run-once")
def jobs_run_once() -> None:
    """One pass of the background work `allot serve` runs on its own: subscription statuses
    and end-of-period changes, invoices, notifications, key pruning, webhook deliveries."""
    from app.clock import Clock
    from app.domain.outbound.targets import TargetPolicy
    from app.workers.jobs import run_once
    from app.workers.webhooks import deliver_once, new_http_client

    settings = Settings.from_env()
    policy = TargetPolicy.of(settings.webhook_allow_private, settings.webhook_allowed_cidrs)

    async def work(db: Database) -> tuple[int, int]:
        moved = await run_once(db, Clock(), settings.idempotency_retention_days)
        async with new_http_client() as http:
            delivered = await deliver_once(db, Clock(), http,
                                           request_timeout=settings.webhook_timeout,
                                           policy=policy)
        return moved, int(delivered or 0)

    with open_database(settings, migrate=False) as url:
        moved, delivered = run_with_db(url, work)
    typer.echo(f"allot: jobs moved {moved} subscriptions; {delivered} webhook deliveries "
               "attempted.")


