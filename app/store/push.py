"""Push: what a committed change announces, and the one connection per process that hears it.

Writers announce inside their transaction with `pg_notify` (PostgreSQL delivers a
notification only when its transaction commits, and never one of a transaction rolled back):

* `allot_entitlements_changed` `[env, customer pk, version]`: a customer's cached entitlements
  were rewritten (`save_entitlements`);
* `allot_usage_changed` `[env, customer pk, feature, resource key, period start, period end]`:
  a usage counter's value changed. Announced right AFTER the writing transaction commits, by
  the writing process's `UsageAnnouncer`, not inside it: a transaction that notifies holds
  PostgreSQL's notification lock through its commit, so every report would commit one at a
  time (measured: 3 to 5 times fewer commits a second at 32 connections). The announcer sends
  what committed meanwhile in one NOTIFY transaction, one at a time, so reports never wait on
  it (docs/push.md "Usage");
* `allot_catalog_published` `[env, kind, id, version, published at]`: a plan or add-on
  version was published, or a catalog document applied.

Payloads hold ids and versions only (NOTIFY takes at most 8,000 bytes); listeners load what
they deliver. `PushListener` LISTENs on the three channels on a connection of its own, like the
key-revocation listener (app/store/key_revocations.py), and hands each notice to its callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database, RawConnection
from app.store.listening import Listener
from app.store.rows import CounterKey, StateToken, json_of

log = logging.getLogger("allot.push")

ENTITLEMENTS = "allot_entitlements_changed"
USAGE = "allot_usage_changed"
CATALOG = "allot_catalog_published"
CHANNELS = (ENTITLEMENTS, USAGE, CATALOG)

_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


async def announce_entitlements(
    session: AsyncSession, env: uuid.UUID, customer_pk: uuid.UUID, version: int
) -> None:
    payload = orjson.dumps([str(env), str(customer_pk), str(version)]).decode()
    await session.execute(_NOTIFY, {"channel": ENTITLEMENTS, "payload": payload})


async def announce_catalog(
    session: AsyncSession,
    env: uuid.UUID,
    kind: str,
    package_id: str | None,
    version: int | None,
    published_at: datetime,
) -> None:
    payload = orjson.dumps([str(env), kind, package_id, version, published_at.isoformat()]).decode()
    await session.execute(_NOTIFY, {"channel": CATALOG, "payload": payload})


@dataclass(frozen=True, slots=True)
class EntitlementsNotice:
    env: uuid.UUID
    customer_pk: uuid.UUID
    version: int


@dataclass(frozen=True, slots=True)
class UsageNotice:
    env: uuid.UUID
    customer_pk: uuid.UUID
    feature_id: str
    resource_key: str
    period_start: datetime
    period_end: datetime

    @property
    def counter(self) -> tuple[uuid.UUID, str, str]:
        """What usage events are coalesced by: (customer, feature, resource)."""
        return (self.customer_pk, self.feature_id, self.resource_key)


@dataclass(frozen=True, slots=True)
class CatalogNotice:
    env: uuid.UUID
    kind: str
    package_id: str | None
    version: int | None
    published_at: datetime


Notice = EntitlementsNotice | UsageNotice | CatalogNotice


def parse_notice(channel: str, payload: str) -> Notice | None:
    """A notification's notice; None when it is not one of ours (logged)."""
    try:
        items: list[Any] = orjson.loads(payload)
        if channel == ENTITLEMENTS:
            return EntitlementsNotice(uuid.UUID(items[0]), uuid.UUID(items[1]), int(items[2]))
        if channel == USAGE:
            return UsageNotice(
                uuid.UUID(items[0]),
                uuid.UUID(items[1]),
                str(items[2]),
                str(items[3]),
                datetime.fromisoformat(items[4]),
                datetime.fromisoformat(items[5]),
            )
        if channel == CATALOG:
            return CatalogNotice(
                uuid.UUID(items[0]),
                str(items[1]),
                None if items[2] is None else str(items[2]),
                None if items[3] is None else int(items[3]),
                datetime.fromisoformat(items[4]),
            )
    except (ValueError, TypeError, IndexError, orjson.JSONDecodeError):
        pass
    log.warning("ignoring a malformed push notice on %s: %r", channel, payload[:100])
    return None


class PushConnection(asyncpg.Connection):
    """The push listener's own connection (told apart from requests' round trips)."""


class PushListener(Listener):
    """LISTENs on the push channels on a connection of its own; `on_notice` gets each notice
    (on the event loop, in the order PostgreSQL delivers them: commit order). `on_reset()`
    is called when listening starts again after a break: notices may have been missed."""

    channels = CHANNELS
    connection_class = PushConnection
    what = "push notices"

    def __init__(
        self, dsn: str, on_notice: Callable[[Notice], None], on_reset: Callable[[], None]
    ) -> None:
        super().__init__(dsn)
        self._on_notice = on_notice
        self._on_reset = on_reset

    def _notified(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        notice = parse_notice(channel, str(payload))
        if notice is not None:
            self._on_notice(notice)

    def _started(self, again: bool) -> None:
        if again:
            self._on_reset()


class UsageAnnouncer:
    """Announces the usage counters that changed, after their transactions committed: what is
    noted within GATHER_SECONDS, and while one NOTIFY transaction is being sent, goes together
    in the next. At most one in flight per process, on a connection of its own (reports never
    wait for it, nor for a pool connection it holds)."""

    GATHER_SECONDS = 0.005

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: dict[tuple[uuid.UUID, CounterKey], None] = {}
        self._sending: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None

    def note(self, env: uuid.UUID, counters: Iterable[CounterKey]) -> None:
        """Call only once the transaction that changed them has committed."""
        for counter in counters:
            self._pending[(env, counter)] = None
        if self._pending and (self._sending is None or self._sending.done()):
            self._sending = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        while self._pending:
            await asyncio.sleep(self.GATHER_SECONDS)
            batch = list(self._pending)
            self._pending.clear()
            payloads = [
                orjson.dumps(
                    [str(env), str(c[0]), c[1], c[2], c[3].isoformat(), c[4].isoformat()]
                ).decode()
                for env, c in batch
            ]
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncpg.connect(self._db.url, timeout=10)
                await self._conn.execute(
                    "SELECT pg_notify($1, p) FROM unnest($2::text[]) p", USAGE, payloads
                )
            except Exception as exc:  # the database is away: these events are lost
                log.warning("could not announce %d usage changes (%s)", len(payloads), exc)
                if self._conn is not None:
                    with contextlib.suppress(Exception):
                        self._conn.terminate()
                    self._conn = None

    async def close(self) -> None:
        """Send what is noted, then close the connection (the app's shutdown)."""
        await self.drain()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), timeout=2)
            self._conn = None

    async def drain(self) -> None:
        """Wait until everything noted was sent (tests; shutdown)."""
        while self._sending is not None and not self._sending.done():
            await asyncio.shield(self._sending)


_ANNOUNCERS: weakref.WeakKeyDictionary[Database, UsageAnnouncer] = weakref.WeakKeyDictionary()


def announcer_for(db: Database) -> UsageAnnouncer:
    """The process's usage announcer for a database."""
    announcer = _ANNOUNCERS.get(db)
    if announcer is None:
        announcer = _ANNOUNCERS[db] = UsageAnnouncer(db)
    return announcer


# --- what a process loads to deliver a notice ----------------------------------------------


async def customer_ids(
    conn: RawConnection, env: uuid.UUID, pks: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    rows = await conn.fetch(
        "SELECT pk, id FROM customers WHERE environment_pk = $1 AND pk = ANY($2::uuid[])",
        env,
        list(pks),
    )
    return {r["pk"]: r["id"] for r in rows}


@dataclass(frozen=True, slots=True)
class CounterRow:
    """A usage counter as it stands, with its customer's id and cached entitlement."""

    customer_id: str
    value: float
    version: int
    entitlement: dict[str, Any] | None


async def counter_rows(
    conn: RawConnection, notices: Sequence[UsageNotice]
) -> dict[UsageNotice, CounterRow]:
    """The counters the notices name, as they stand now (one statement)."""
    if not notices:
        return {}
    rows = await conn.fetch(
        "SELECT q.ord, c.id AS customer_id, u.value, u.version, "
        "fe.entitlement - 'sources' AS entitlement "
        "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[]) "
        "WITH ORDINALITY AS q(cu, f, r, s, e, ord) "
        "JOIN usage_counters u ON u.customer_pk = q.cu AND u.feature_id = q.f "
        "AND u.resource_key = q.r AND u.period_start = q.s AND u.period_end = q.e "
        "JOIN customers c ON c.pk = q.cu "
        "LEFT JOIN customer_entitlements ce ON ce.customer_pk = q.cu "
        "LEFT JOIN customer_feature_entitlements fe ON fe.customer_pk = ce.customer_pk "
        "AND fe.feature_id = q.f",
        [n.customer_pk for n in notices],
        [n.feature_id for n in notices],
        [n.resource_key for n in notices],
        [n.period_start for n in notices],
        [n.period_end for n in notices],
    )
    out = {}
    for r in rows:
        entitlement = json_of(r["entitlement"])
        out[notices[r["ord"] - 1]] = CounterRow(
            r["customer_id"], float(r["value"]), int(r["version"]), entitlement
        )
    return out


_STATE_TOKEN_SQL = """
SELECT c.pk AS customer_pk,
       c.archived_at IS NOT NULL AS archived,
       ce.customer_pk IS NOT NULL AS cached,
       ce.valid_until,
       ce.xmin::text AS entitlements_version,
       (SELECT count(*) || ':' || coalesce(max(u.version), 0)
          FROM usage_counters u
         WHERE u.customer_pk = c.pk AND u.resource_key = ''
           AND u.period_start <= $3 AND u.period_end > $3) AS usage,
       (SELECT count(*) || ':' || coalesce(max(f.xmin::text::bigint), 0)
          FROM features f WHERE f.environment_pk = $1) AS features
FROM customers c
LEFT JOIN customer_entitlements ce ON ce.customer_pk = c.pk
WHERE c.environment_pk = $1 AND c.id = $2
"""


async def state_token(
    conn: RawConnection, env: uuid.UUID, customer_id: str, now: datetime
) -> StateToken | None:
    """The versions a customer's whole state (not scoped to a resource) is made of at `now`,
    in one statement that reads no entitlement document. None: no such customer."""
    row = await conn.fetchrow(_STATE_TOKEN_SQL, env, customer_id, now)
    return None if row is None else StateToken(**dict(row.items()))


async def features_and_usage(
    conn: RawConnection, env: uuid.UUID, customer_pk: uuid.UUID, resource_key: str, now: datetime
) -> tuple[
    list[tuple[str, str]], dict[str, list[tuple[datetime, datetime, float]]], dict[str, int]
]:
    """Every feature of the environment (id, type; archived ones too: a check answers them),
    the customer's usage counters current at `now` by feature (as `latest_usage`), and the
    greatest version among each feature's current counters, in one round trip."""
    rows = await conn.fetch(
        "SELECT f.id, f.type, u.period_start, u.period_end, u.value, u.version "
        "FROM features f LEFT JOIN usage_counters u ON u.customer_pk = $2 "
        "AND u.feature_id = f.id AND u.resource_key = $3 AND u.period_start <= $4 "
        "AND u.period_end > $4 WHERE f.environment_pk = $1 ORDER BY f.id",
        env,
        customer_pk,
        resource_key,
        now,
    )
    features: list[tuple[str, str]] = []
    usage: dict[str, list[tuple[datetime, datetime, float]]] = {}
    versions: dict[str, int] = {}
    for r in rows:
        if not features or features[-1][0] != r["id"]:
            features.append((r["id"], r["type"]))
        if r["period_start"] is not None:
            usage.setdefault(r["id"], []).append(
                (r["period_start"], r["period_end"], float(r["value"]))
            )
            versions[r["id"]] = max(versions.get(r["id"], 0), int(r["version"]))
    return features, usage, versions


async def customer_pks(
    conn: RawConnection, env: uuid.UUID, ids: Sequence[str]
) -> dict[uuid.UUID, str]:
    rows = await conn.fetch(
        "SELECT pk, id FROM customers WHERE environment_pk = $1 AND id = ANY($2::text[])",
        env,
        list(ids),
    )
    return {r["pk"]: r["id"] for r in rows}
