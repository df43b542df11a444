"""The Starlette application: lifespan owns the database; routes /graphql, /healthz, /v1."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from app import secrets_at_rest
from app.clock import Clock
from app.db import Database
from app.domain.outbound.targets import TargetPolicy
from app.resolvers.root import build_schema
from app.schema.documents import HEAVY_WORK_SWITCH_INTERVAL
from app.settings import Settings
from app.store.key_revocations import RevocationListener
from app.store.push import PushListener, announcer_for
from app.store.secrets import verify_key
from app.web.billing_pages import invoice_pdf, payment_page
from app.web.console_auth import routes as console_auth_routes
from app.web.cors import CorsPolicy
from app.web.graphiql import static_files_dir
from app.web.graphql import Services, graphql_get, graphql_post, json_response
from app.web.rate_limits import RateLimits
from app.web.request_ids import guarded
from app.web.rest import entitlement_route, entitlements_route
from app.web.subscriptions import graphql_ws
from app.workers.jobs import run_forever
from app.workers.push import PushHub
from app.workers.webhooks import run_forever as run_webhooks_forever

log = logging.getLogger("allot")


async def healthz(request: Request) -> Response:
    services: Services = request.app.state.services
    try:
        await services.db.ping()
    except Exception:  # the database is down: report, don't crash
        log.exception("health check failed")
        return json_response({"status": "unavailable", "database": "down"}, status=503)
    return json_response({"status": "ok", "database": "up"})


async def not_found(request: Request, exc: Any) -> Response:
    return PlainTextResponse("Not found", status_code=404)


def create_app(
    database_url: str,
    settings: Settings | None = None,
    clock: Clock | None = None,
    ticks: Callable[[], float] = time.monotonic,
) -> Starlette:
    """Build the app for a database URL (the CLI resolves embedded vs external before).
    `ticks`: the monotonic clock of the rate limits (tests move their own)."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Long documents and introspection run on a worker thread (app/schema/documents.py);
        # the event loop must get the interpreter back quickly when it has I/O to serve, not
        # after CPython's default 5 ms switch interval (each /healthz step would wait that).
        sys.setswitchinterval(HEAVY_WORK_SWITCH_INTERVAL)
        # Settings without a key keep a keyring the process already has (tests install one).
        if settings.secret_key or not secrets_at_rest.installed():
            secrets_at_rest.install(secrets_at_rest.load_keyring(settings))
        db = Database(database_url, pool_size=settings.pool_size)
        try:
            async with db.transaction() as session:
                await verify_key(session, secrets_at_rest.current(), Clock().now())
        except BaseException:
            await db.close()
            raise
        app.state.services = Services(
            db=db,
            settings=settings,
            clock=clock or Clock(),
            schema=build_schema(settings),
            rate_limits=RateLimits.of(settings, ticks),
        )
        job = None
        if settings.jobs_interval > 0:
            job = asyncio.create_task(run_forever(db, app.state.services.clock,
                                                  settings.jobs_interval,
                                                  settings.idempotency_retention_days))
        services = app.state.services
        services.revocations = RevocationListener(
            db.url, services.forget_key, services.forget_all_keys
        )
        revocations = asyncio.create_task(services.revocations.run_forever())
        # Push: one LISTEN connection per process feeding its subscribers (docs/push.md).
        services.push = PushHub(db, services.clock)
        push_listener = PushListener(db.url, services.push.on_notice, services.push.on_reset)
        push = asyncio.create_task(push_listener.run_forever())
        # Serve once listening (until then the key cache is simply not used).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(services.revocations.ready.wait(), timeout=5)
        webhooks = None
        if settings.webhook_interval > 0:
            policy = TargetPolicy.of(settings.webhook_allow_private, settings.webhook_allowed_cidrs)
            webhooks = asyncio.create_task(run_webhooks_forever(
                db, app.state.services.clock, settings.webhook_interval, settings.webhook_timeout,
                policy,
            ))
        # What startup built (the schema, its types, the modules) lives as long as the process:
        # kept out of the collector's full passes, which otherwise walk it every time (~60 ms
        # each, a pause for every request in flight).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await services.push.close()
            await announcer_for(db).close()
            for task in (job, webhooks, revocations, push):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await db.close()

    # CORS headers for frontends (app/web/cors.py): the wrapped endpoints are the plain
    # ones when ALLOT_CORS_ORIGINS is empty; preflights are routes of their own.
    cors = CorsPolicy.of(settings.cors_origins)
    routes = [
        Route("/graphql", cors.wrap(guarded(graphql_post)), methods=["POST"]),
        Route("/graphql", cors.wrap(guarded(graphql_get)), methods=["GET"]),
        Route("/graphql", cors.preflight(("GET", "POST")), methods=["OPTIONS"]),
        WebSocketRoute("/graphql", graphql_ws),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/v1/customers/{customer_id}/entitlements/{feature_id}",
              cors.wrap(guarded(entitlement_route)), methods=["GET"]),
        Route("/v1/customers/{customer_id}/entitlements/{feature_id}",
              cors.preflight(("GET",)), methods=["OPTIONS"]),
        Route("/v1/customers/{customer_id}/entitlements", cors.wrap(guarded(entitlements_route)),
              methods=["GET"]),
        Route("/v1/customers/{customer_id}/entitlements", cors.preflight(("GET",)),
              methods=["OPTIONS"]),
        Route("/invoices/{token}.pdf", guarded(invoice_pdf), methods=["GET"]),
        Route("/pay/{token}", guarded(payment_page), methods=["GET"]),
        # The console's login, logout, session and invitation endpoints (app/web/console_auth.py).
        *console_auth_routes(),
        Mount(
            "/static/graphiql",
            app=StaticFiles(directory=static_files_dir()),
            name="graphiql-static",
        ),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_found},
    )


def app_from_env() -> Starlette:
    """Factory for `uvicorn --factory app.main:app_from_env` (workers, benchmarks): the
    database URL must be in DATABASE_URL (the CLI resolves the embedded server first)."""
    settings = Settings.from_env()
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL must be set for app_from_env")
    return create_app(settings.database_url, settings)
