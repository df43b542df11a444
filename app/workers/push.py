"""Push fan-out in one process: notices heard on the process's one LISTEN connection
(app/store/push.py) become events for the subscribers connected to this process.

* Entitlements: a notice for a customer nobody here watches costs a set lookup. Otherwise the
  customer's state is loaded ONCE (app/domain/checks/state.py) and handed to every matching
  subscriber. Loads of one customer never overlap: a notice arriving during a load makes one
  more load after it, so the last state is always delivered, and a state whose version is
  not greater than the last one delivered is not delivered again (ordering is by version).
* Usage: coalesced per (customer, feature, resource): at most one event per COALESCE_SECONDS
  for a counter, carrying the counter as it stands when the event is built (the latest value;
  the last change is never dropped, only merged into the event after it).
* Catalog: every catalogPublished subscriber of the environment gets the publication, and the
  customers watched here are reloaded (a publish marks their cached entitlements stale; the
  reload recomputes them, which announces their new state to every process).

Each subscriber has a bounded queue; one that falls QUEUE_LIMIT events behind is ended with an
error (it should reconnect and resync) rather than letting memory grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from app.clock import Clock
from app.db import Database
from app.domain.checks.state import state_of
from app.domain.usage.reports import usage_limit
from app.resolvers.usage import Usage
from app.schema.common import ClientError
from app.schema.push_types import CatalogPublication, change_view
from app.store import push as push_store
from app.store.push import CatalogNotice, EntitlementsNotice, Notice, UsageNotice
from app.store.usage import NO_PERIOD, NO_PERIOD_END

log = logging.getLogger("allot.push")

COALESCE_SECONDS = 0.05
QUEUE_LIMIT = 1_000
_ID_CACHE_LIMIT = 100_000


class SubscriberTooSlow(ClientError):
    """A subscriber's queue is full: it is ended (clients reconnect and resync)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "SUBSCRIBER_TOO_SLOW")


@dataclass(eq=False)
class Subscriber:
    kind: str  # "entitlements", "usage" or "catalog"
    env: uuid.UUID
    customer_id: str | None = None  # None: every customer of the environment
    feature_id: str | None = None  # usage only; None: every feature
    queue: asyncio.Queue[Any] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT + 1))

    def wants(self, customer_id: str, feature_id: str | None = None) -> bool:
        return (self.customer_id is None or self.customer_id == customer_id) and (
            self.feature_id is None or feature_id is None or self.feature_id == feature_id
        )

    def put(self, item: Any) -> None:
        if self.queue.qsize() >= QUEUE_LIMIT:
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(
                    SubscriberTooSlow(
                        f"more than {QUEUE_LIMIT} events waiting: reconnect and resync"
                    )
                )
            return
        self.queue.put_nowait(item)


class PushHub:
    def __init__(
        self, db: Database, clock: Clock, coalesce_seconds: float = COALESCE_SECONDS
    ) -> None:
        self.db = db
        self.clock = clock
        self.coalesce_seconds = coalesce_seconds
        self._subscribers: dict[uuid.UUID, set[Subscriber]] = {}
        self._customer_ids: dict[uuid.UUID, str] = {}
        # Entitlements: customers whose load is running, those to load again after it, and
        # the last version delivered per customer.
        self._loading: set[tuple[uuid.UUID, uuid.UUID]] = set()
        self._again: set[tuple[uuid.UUID, uuid.UUID]] = set()
        self._delivered: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
        # Usage: the latest notice per counter not yet delivered, and when each counter's
        # last event left.
        self._pending_usage: dict[tuple[uuid.UUID, str, str], UsageNotice] = {}
        self._usage_timer: asyncio.TimerHandle | None = None
        self._usage_sent: dict[tuple[uuid.UUID, str, str], float] = {}
        self._usage_versions: dict[tuple[uuid.UUID, str, str], int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.events_loaded = 0  # state loads (tests and the bench read it)

    # --- subscribers -------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(self, subscriber: Subscriber) -> AsyncIterator[Subscriber]:
        self._subscribers.setdefault(subscriber.env, set()).add(subscriber)
        try:
            yield subscriber
        finally:
            found = self._subscribers.get(subscriber.env)
            if found is not None:
                found.discard(subscriber)
                if not found:
                    del self._subscribers[subscriber.env]

    def count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    def _of(self, env: uuid.UUID, kind: str) -> list[Subscriber]:
        return [s for s in self._subscribers.get(env, ()) if s.kind == kind]

    # --- notices (called on the event loop by the listener) ------------------------------

    def on_notice(self, notice: Notice) -> None:
        if notice.env not in self._subscribers:
            return
        if isinstance(notice, EntitlementsNotice):
            if self._of(notice.env, "entitlements"):
                self._load_customer(notice.env, notice.customer_pk)
        elif isinstance(notice, UsageNotice):
            if self._of(notice.env, "usage"):
                self._queue_usage(notice)
        elif isinstance(notice, CatalogNotice):
            self._publication(notice)

    def on_reset(self) -> None:
        """Listening resumed after a break: notices may have been missed, so every customer
        watched by name is reloaded (delivered if its version moved)."""
        for env, subscribers in list(self._subscribers.items()):
            self._reload_watched(env, subscribers)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        if self._usage_timer is not None:
            self._usage_timer.cancel()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    # --- entitlements -----------------------------------------------------------------

    def _load_customer(self, env: uuid.UUID, customer_pk: uuid.UUID) -> None:
        key = (env, customer_pk)
        if key in self._loading:
            self._again.add(key)
            return
        self._loading.add(key)
        self._spawn(self._deliver_states(env, customer_pk))

    async def _customer_id(self, env: uuid.UUID, customer_pk: uuid.UUID) -> str | None:
        found = self._customer_ids.get(customer_pk)
        if found is None:
            async with self.db.raw() as conn:
                found = (await push_store.customer_ids(conn, env, [customer_pk])).get(customer_pk)
            if found is not None:
                if len(self._customer_ids) > _ID_CACHE_LIMIT:
                    self._customer_ids.clear()
                self._customer_ids[customer_pk] = found
        return found

    async def _deliver_states(self, env: uuid.UUID, customer_pk: uuid.UUID) -> None:
        key = (env, customer_pk)
        try:
            while True:
                self._again.discard(key)
                try:
                    await self._deliver_state(env, customer_pk)
                except Exception:  # the database is away: logged, the next notice retries
                    log.exception("could not load a customer's state for push")
                if key not in self._again:
                    break
        finally:
            self._loading.discard(key)

    async def _deliver_state(self, env: uuid.UUID, customer_pk: uuid.UUID) -> None:
        customer_id = await self._customer_id(env, customer_pk)
        if customer_id is None:
            return
        wanting = [s for s in self._of(env, "entitlements") if s.wants(customer_id)]
        if not wanting:
            return
        state = await state_of(self.db, env, customer_id, self.clock.now())
        self.events_loaded += 1
        key = (env, customer_pk)
        if state.version <= self._delivered.get(key, -1):
            return
        self._delivered[key] = state.version
        if len(self._delivered) > _ID_CACHE_LIMIT:
            self._delivered.clear()
        change = change_view(state)
        # Subscribers may have come or gone during the load: ask again.
        for subscriber in self._of(env, "entitlements"):
            if subscriber.wants(customer_id):
                subscriber.put(change)

    def _reload_watched(self, env: uuid.UUID, subscribers: set[Subscriber]) -> None:
        names = {
            s.customer_id
            for s in subscribers
            if s.kind == "entitlements" and s.customer_id is not None
        }
        if names:
            self._spawn(self._reload_names(env, names))

    async def _reload_names(self, env: uuid.UUID, names: set[str]) -> None:
        for pk in await self._pks_of(env, names):
            self._load_customer(env, pk)

    async def _pks_of(self, env: uuid.UUID, names: set[str]) -> list[uuid.UUID]:
        async with self.db.raw() as conn:
            found = await push_store.customer_pks(conn, env, sorted(names))
        for pk, customer_id in found.items():
            self._customer_ids[pk] = customer_id
        return sorted(found)

    # --- catalog ----------------------------------------------------------------------

    def _publication(self, notice: CatalogNotice) -> None:
        publication = CatalogPublication(
            kind=notice.kind,
            id=notice.package_id,
            version=notice.version,
            published_at=notice.published_at,
        )
        subscribers = self._subscribers.get(notice.env, set())
        for subscriber in subscribers:
            if subscriber.kind == "catalog":
                subscriber.put(publication)
        self._reload_watched(notice.env, subscribers)

    # --- usage ------------------------------------------------------------------------

    def _queue_usage(self, notice: UsageNotice) -> None:
        self._pending_usage[notice.counter] = notice  # the latest period named wins
        self._arm_usage_timer()

    def _arm_usage_timer(self) -> None:
        if self._usage_timer is not None or not self._pending_usage:
            return
        now = time.monotonic()
        due = min(self._usage_sent.get(k, 0.0) + self.coalesce_seconds for k in self._pending_usage)
        loop = asyncio.get_running_loop()
        self._usage_timer = loop.call_later(max(0.0, due - now), self._usage_due)

    def _usage_due(self) -> None:
        self._usage_timer = None
        now = time.monotonic()
        due = {
            k: n
            for k, n in self._pending_usage.items()
            if self._usage_sent.get(k, 0.0) + self.coalesce_seconds <= now
        }
        for key in due:
            del self._pending_usage[key]
            self._usage_sent[key] = now
        if len(self._usage_sent) > _ID_CACHE_LIMIT:
            self._usage_sent = {
                k: t for k, t in self._usage_sent.items() if t > now - self.coalesce_seconds
            }
        if due:
            self._spawn(self._deliver_usage(list(due.values())))
        self._arm_usage_timer()

    async def _deliver_usage(self, notices: list[UsageNotice]) -> None:
        try:
            async with self.db.raw() as conn:
                rows = await push_store.counter_rows(conn, notices)
        except Exception:
            log.exception("could not load usage counters for push")
            return
        for notice in notices:
            row = rows.get(notice)
            if row is None:
                continue
            key = notice.counter
            if row.version <= self._usage_versions.get(key, -1):
                continue  # an event delivered already carried this value or a newer one
            self._usage_versions[key] = row.version
            if len(self._usage_versions) > _ID_CACHE_LIMIT:
                self._usage_versions.clear()
            endless = notice.period_start == NO_PERIOD and notice.period_end == NO_PERIOD_END
            usage = Usage(
                customer_id=row.customer_id,
                feature_id=notice.feature_id,
                resource_id=notice.resource_key or None,
                current_usage=row.value,
                usage_limit=usage_limit(row.entitlement)[0],
                period_start=None if endless else notice.period_start,
                period_end=None if endless else notice.period_end,
                version=str(row.version),
            )
            for subscriber in self._of(notice.env, "usage"):
                if subscriber.wants(row.customer_id, notice.feature_id):
                    subscriber.put(usage)

    async def stream(
        self, kind: str, env: uuid.UUID, customer_id: str | None, feature_id: str | None = None
    ) -> AsyncIterator[Any]:
        """The events of one subscription, until the caller stops iterating."""
        async with self.subscribe(Subscriber(kind, env, customer_id, feature_id)) as me:
            while True:
                item = await me.queue.get()
                if isinstance(item, SubscriberTooSlow):
                    raise item
                yield item
