"""The one core of both clients: the cache, the local check, the subscription, the queue.

Everything that waits runs on one asyncio loop (the caller's for ``AsyncAllotClient``, a
background thread's for ``AllotClient``); ``lookup`` and ``enqueue`` are plain functions
callable from any thread, and are the hot paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from allot_sdk._backoff import Backoff
from allot_sdk._fallbacks import Fallback, check_fallback, fallback_answer
from allot_sdk._queue import Report, UsageQueue, new_idempotency_key
from allot_sdk._rules import CACHED, SERVER, Entitlement, answer, denied
from allot_sdk._state import (
    CATALOG_PUBLISHED,
    CONSUME,
    ENTITLEMENTS_CHANGED,
    REPORT_BATCH,
    STATE_QUERY,
    USAGE_CHANGED,
    CustomerState,
    Key,
)
from allot_sdk.errors import AllotError, AllotUnavailable

log = logging.getLogger("allot_sdk")

FORBIDDEN_CLOSE = 4403  # graphql-transport-ws: connection_init refused (unknown key)

UsageErrorHandler = Callable[[dict[str, Any], str, str], None]


@dataclass
class Options:
    """Everything the clients take (docs/sdk.md explains each)."""

    base_url: str
    api_key: str
    customer_token: str | None = None
    subscribe_customer_id: str | None = None  # with a client key + customer token
    fallbacks: Mapping[str, Fallback] = field(default_factory=dict)
    default_fallback: Fallback = False
    raise_on_error: bool = False
    max_staleness: float = 60.0  # seconds a state may go unconfirmed before it is not used
    request_timeout: float = 2.0
    ping_interval: float = 10.0
    reconnect_base: float = 0.25
    reconnect_cap: float = 30.0
    max_customers: int = 10_000
    subscribe: bool = True
    # Usage queue
    max_queue: int = 100_000
    batch_size: int = 1000
    flush_interval: float = 0.1
    enqueue_timeout: float = 1.0
    on_usage_error: UsageErrorHandler | None = None

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        for fallback in (*self.fallbacks.values(), self.default_fallback):
            check_fallback(fallback)
        if not 0 < self.batch_size <= 1000:
            raise ValueError("batch_size is 1 to 1000 (reportUsageBatch takes 1,000)")
        if self.max_staleness <= 0 or self.request_timeout <= 0:
            raise ValueError("max_staleness and request_timeout must be positive")


class Engine:
    def __init__(self, options: Options) -> None:
        self.options = options
        self._states: dict[Key, CustomerState] = {}
        self._loading: dict[Key, asyncio.Future[CustomerState]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: httpx.AsyncClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._ws_task: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._wake_flusher: asyncio.Event | None = None
        self._acked: asyncio.Event | None = None
        self._wake_requested = False
        self._closing = False
        # Connection epochs: states fetched on the live connection are current as of its
        # last sign of life (`_live_at`); others as of their own fetch.
        self._epoch = 0
        self._live_epoch = -1
        self._live_at = 0.0
        self._down_until = 0.0  # after a failure, checks use fallbacks at once until then
        self._down_backoff = Backoff(0.25, 5.0)
        self.queue = UsageQueue(options.max_queue)
        self.connected = asyncio.Event()  # set while the subscription is live and resynced
        self.events = 0  # subscription events applied (observability, tests)

    # --- life cycle (on the loop) --------------------------------------------------------

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is None:
            self._loop = loop
            headers = {"Authorization": f"Bearer {self.options.api_key}"}
            if self.options.customer_token:
                headers["X-Allot-Customer-Token"] = self.options.customer_token
            self._http = httpx.AsyncClient(
                base_url=self.options.base_url,
                headers=headers,
                timeout=self.options.request_timeout,
            )
            self._wake_flusher = asyncio.Event()
            self._acked = asyncio.Event()
            self._tasks.append(loop.create_task(self._maintain()))

    async def aclose(self, flush_timeout: float) -> None:
        # asyncio.timeout rather than wait_for throughout: on Python 3.11, wait_for swallows a
        # cancellation that arrives as its awaitable completes, and a task would run on.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(flush_timeout):
                await self.flush()
        if len(self.queue):
            log.error("allot: %d usage reports not acknowledged at close", len(self.queue))
        self._closing = True
        tasks = [*self._tasks, self._ws_task, self._flusher]
        for task in tasks:
            if task is not None:
                task.cancel()
        for task in tasks:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._http is not None:
            await self._http.aclose()

    # --- GraphQL over HTTP ---------------------------------------------------------------

    async def graphql(self, query: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        assert self._http is not None, "the engine is not bound to a loop"
        try:
            response = await self._http.post(
                "/graphql", json={"query": query, "variables": dict(variables)}
            )
        except httpx.HTTPError as error:
            raise AllotUnavailable(f"allot unreachable: {error!r}") from error
        if response.status_code >= 500 or response.status_code == 429:
            raise AllotUnavailable(f"allot answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError as error:
            raise AllotUnavailable(f"allot answered HTTP {response.status_code}") from error
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            first = errors[0]
            code = (first.get("extensions") or {}).get("code")
            raise AllotError(str(first.get("message")), code)
        if response.status_code != 200 or not isinstance(body.get("data"), dict):
            raise AllotError(f"allot answered HTTP {response.status_code}")
        self._mark_up()
        return body["data"]  # type: ignore[no-any-return]

    def _mark_up(self) -> None:
        self._down_until = 0.0
        self._down_backoff.reset()

    def _mark_down(self) -> None:
        self._down_until = time.monotonic() + self._down_backoff.next_delay()

    # --- the cache and the local check ---------------------------------------------------

    def lookup(
        self,
        customer_id: str,
        feature_id: str,
        resource_id: str | None,
        requested_usage: float | None,
        requested_values: Sequence[str] | None,
    ) -> Entitlement | None:
        """The answer from the cache, or None when the cache cannot answer (not loaded,
        older than max_staleness, or past its validUntil)."""
        state = self._states.get((customer_id, resource_id))
        if state is None:
            return None
        known_at = self._live_at if state.epoch == self._live_epoch else state.fetched_at
        if time.monotonic() - known_at > self.options.max_staleness:
            return None
        if time.time() >= state.refresh_at:
            return None
        return self._answer(state, feature_id, requested_usage, requested_values, CACHED)

    @staticmethod
    def _answer(
        state: CustomerState,
        feature_id: str,
        requested_usage: float | None,
        requested_values: Sequence[str] | None,
        reason: str,
    ) -> Entitlement:
        if state.deny_reason is not None:
            return denied(feature_id, state.deny_reason, reason)
        entry = state.entries.get(feature_id)
        if entry is None:
            return denied(feature_id, "FEATURE_NOT_FOUND", reason)
        return answer(entry, requested_usage, requested_values, reason)

    def fallback(
        self,
        feature_id: str,
        requested_usage: float | None,
        requested_values: Sequence[str] | None,
        error: str,
    ) -> Entitlement:
        chosen = self.options.fallbacks.get(feature_id, self.options.default_fallback)
        return fallback_answer(feature_id, chosen, requested_usage, requested_values, error)

    async def check_slow(
        self,
        customer_id: str,
        feature_id: str,
        resource_id: str | None,
        requested_usage: float | None,
        requested_values: Sequence[str] | None,
    ) -> Entitlement:
        """A check the cache could not answer: fetch the state (unless allot just failed),
        else the fallback (or raise, with raise_on_error)."""
        try:
            if time.monotonic() < self._down_until:
                raise AllotUnavailable("allot unreachable (retrying later)")
            state = await self.load(customer_id, resource_id)
        except AllotError as error:
            if self.options.raise_on_error:
                raise
            if isinstance(error, AllotUnavailable):
                log.debug("allot: fallback for %s/%s: %s", customer_id, feature_id, error)
            else:
                log.warning("allot: fallback for %s/%s: %s", customer_id, feature_id, error)
            return self.fallback(feature_id, requested_usage, requested_values, str(error))
        return self._answer(state, feature_id, requested_usage, requested_values, SERVER)

    async def load(self, customer_id: str, resource_id: str | None) -> CustomerState:
        """Fetch one state (concurrent callers share one request) and cache it."""
        key = (customer_id, resource_id)
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        assert self._loop is not None
        future: asyncio.Future[CustomerState] = self._loop.create_future()
        self._loading[key] = future
        try:
            state = await self._fetch(customer_id, resource_id)
            future.set_result(state)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: no "never retrieved" warning when no one waits
            raise
        finally:
            del self._loading[key]
        return state

    async def _fetch(self, customer_id: str, resource_id: str | None) -> CustomerState:
        epoch = self._epoch
        started = time.monotonic()
        try:
            data = await self.graphql(STATE_QUERY, {"c": customer_id, "r": resource_id})
        except AllotUnavailable:
            self._mark_down()
            raise
        state = CustomerState(data["entitlementsState"], started, epoch)
        self.store(state)
        return self._states.get(state.key, state)

    def store(self, state: CustomerState) -> bool:
        """Keep `state` unless the cache has a newer version (events and fetches race)."""
        key = state.key
        current = self._states.get(key)
        if current is not None and current.version > state.version:
            current.fetched_at = max(current.fetched_at, state.fetched_at)
            return False
        if current is not None:
            for feature_id, version in current.usage_versions.items():
                if version > state.usage_versions.get(feature_id, -1):
                    # a usage event applied to the cached state is newer than this state's
                    # counter: keep the event's usage
                    entry = current.entries.get(feature_id)
                    if entry is not None and feature_id in state.entries:
                        state.entries[feature_id] = state.entries[feature_id].with_usage(
                            entry.current
                        )
                    state.usage_versions[feature_id] = version
        elif len(self._states) >= self.options.max_customers:
            self._states.pop(next(iter(self._states)))  # the oldest loaded goes first
        self._states[key] = state
        if self.options.subscribe and self._ws_task is None and self._loop is not None:
            self._ws_task = self._loop.create_task(self._subscription())
        return True

    async def preload(self, customer_ids: Sequence[str], resource_id: str | None) -> None:
        await asyncio.gather(*(self.load(c, resource_id) for c in customer_ids))

    async def _refetch(self, keys: Sequence[Key]) -> None:
        limit = asyncio.Semaphore(8)

        async def one(key: Key) -> None:
            async with limit:
                with contextlib.suppress(AllotError):
                    await self.load(*key)

        await asyncio.gather(*(one(key) for key in keys))

    async def _maintain(self) -> None:
        """Refresh states past their validUntil, and, while the subscription is down, states
        about to pass max_staleness (polling keeps the cache usable through a push outage)."""
        period = min(1.0, self.options.max_staleness / 4)
        while True:
            await asyncio.sleep(period)
            if time.monotonic() < self._down_until:
                continue
            now, wall = time.monotonic(), time.time()
            due = [
                key
                for key, state in list(self._states.items())
                if wall >= state.refresh_at
                or (
                    state.epoch != self._live_epoch
                    and now - state.fetched_at > self.options.max_staleness / 2
                )
            ]
            if due:
                await self._refetch(due)

    # --- push: graphql-transport-ws ------------------------------------------------------

    async def _subscription(self) -> None:
        backoff = Backoff(self.options.reconnect_base, self.options.reconnect_cap)
        while not self._closing:
            try:
                await self._connection(backoff)
            except asyncio.CancelledError:
                raise
            except ConnectionClosed as closed:
                if closed.rcvd is not None and closed.rcvd.code == FORBIDDEN_CLOSE:
                    # The key is unknown or revoked: retrying with it cannot succeed. Checks
                    # go on from states polled over HTTP (or fallbacks) until max_staleness.
                    log.error("allot: subscription refused (4403): the key is not valid")
                    self._went_down()
                    return
                log.info("allot: subscription lost: %r", closed)
            except Exception as error:  # any failure: reconnect (logged, never raised)
                log.info("allot: subscription lost: %r", error)
            finally:
                self._went_down()
            await asyncio.sleep(backoff.next_delay())

    def _went_down(self) -> None:
        if self._live_epoch == self._epoch:
            for state in self._states.values():
                if state.epoch == self._epoch:
                    state.fetched_at = max(state.fetched_at, self._live_at)
        self._live_epoch = -1
        self._epoch += 1
        self.connected.clear()

    async def _connection(self, backoff: Backoff) -> None:
        url = "ws" + self.options.base_url.removeprefix("http") + "/graphql"
        headers = {"Authorization": f"Bearer {self.options.api_key}"}
        payload: dict[str, Any] = {"Authorization": f"Bearer {self.options.api_key}"}
        if self.options.customer_token:
            headers["X-Allot-Customer-Token"] = self.options.customer_token
            payload["customerToken"] = self.options.customer_token
        timeout = self.options.request_timeout
        async with connect(
            url,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            additional_headers=headers,
            open_timeout=timeout,
            ping_interval=None,  # the protocol's own ping, below, tells us we are current
            close_timeout=1,
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            async with asyncio.timeout(timeout):
                ack = json.loads(await ws.recv())
            if ack.get("type") != "connection_ack":
                raise AllotError(f"connection refused: {ack}")
            customer = {"c": self.options.subscribe_customer_id}
            for op_id, query, variables in (
                ("entitlements", ENTITLEMENTS_CHANGED, customer),
                ("usage", USAGE_CHANGED, customer),
                ("catalog", CATALOG_PUBLISHED, {}),
            ):
                message = {"query": query, "variables": variables}
                await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": message}))
            # Subscribed first, then every cached state fetched again: a change made while
            # we were away is in the new state, one made from now on arrives as an event,
            # and versions order the two.
            self._epoch += 1
            epoch = self._epoch
            # A ping after the subscribes: its pong comes once the server has taken them in,
            # so the fetches below start after the server listens for our events.
            pong = asyncio.Event()
            await ws.send(json.dumps({"type": "ping"}))
            receiver = asyncio.create_task(self._receive(ws, pong))
            pinger = asyncio.create_task(self._ping(ws))
            ponged = asyncio.create_task(pong.wait())
            resync: asyncio.Task[None] | None = None
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await asyncio.wait({receiver, ponged}, return_when=asyncio.FIRST_COMPLETED)
                resync = asyncio.create_task(self._refetch(list(self._states)))
                await asyncio.wait({resync, receiver}, return_when=asyncio.FIRST_COMPLETED)
                if not receiver.done():
                    self._live_at = time.monotonic()
                    self._live_epoch = epoch
                    self.connected.set()
                    backoff.reset()
                await receiver
            finally:
                for task in (pinger, ponged, resync, receiver):
                    if task is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await task

    async def _ping(self, ws: ClientConnection) -> None:
        """The protocol's ping; its pong is the sign of life that keeps states current."""
        while True:
            await asyncio.sleep(self.options.ping_interval)
            await ws.send(json.dumps({"type": "ping"}))

    async def _receive(self, ws: ClientConnection, pong: asyncio.Event) -> None:
        deadline = self.options.ping_interval + self.options.request_timeout
        while True:
            async with asyncio.timeout(deadline):
                raw = await ws.recv()
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif kind == "pong":
                pong.set()
            elif kind == "next":
                self._on_event(message.get("id"), message.get("payload") or {})
            elif kind in ("error", "complete"):
                raise AllotError(f"subscription {message.get('id')} ended: {message}")
            if self._live_epoch == self._epoch:
                self._live_at = time.monotonic()

    def _on_event(self, op_id: str | None, payload: Mapping[str, Any]) -> None:
        data = payload.get("data") or {}
        if payload.get("errors"):
            log.warning("allot: subscription %s error: %s", op_id, payload["errors"])
        self.events += 1
        if "entitlementsChanged" in data:
            change = data["entitlementsChanged"]
            customer, version = change["customerId"], int(change["version"])
            if (customer, None) in self._states:
                self.store(CustomerState(change["state"], time.monotonic(), self._epoch))
            stale = [
                key
                for key, state in self._states.items()
                if key[0] == customer and key[1] is not None and state.version < version
            ]
            if stale:
                self._spawn(self._refetch(stale))
        elif "usageChanged" in data:
            usage = data["usageChanged"]
            key = (usage["customerId"], usage.get("resourceId"))
            state = self._states.get(key)
            updated = state.with_usage(usage) if state is not None else None
            if updated is not None:
                self._states[key] = updated
        elif "catalogPublished" in data:
            self._spawn(self._refetch(list(self._states)))

    def _spawn(self, job: Any) -> None:
        assert self._loop is not None
        task = self._loop.create_task(job)
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

    # --- usage ---------------------------------------------------------------------------

    def usage_item(
        self,
        customer_id: str,
        feature_id: str,
        value: float,
        mode: str,
        resource_id: str | None,
        timestamp: datetime | None,
        idempotency_key: str | None,
    ) -> dict[str, Any]:
        if not customer_id or not feature_id:
            raise ValueError("customer_id and feature_id are required")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"value must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"value must be finite, got {value!r}")
        if mode not in ("DELTA", "SET"):
            raise ValueError(f"mode is DELTA or SET, got {mode!r}")
        at = timestamp or datetime.now(UTC)
        item: dict[str, Any] = {
            "customerId": customer_id,
            "featureId": feature_id,
            "value": float(value),
            "mode": mode,
            "idempotencyKey": idempotency_key or new_idempotency_key(),
            "timestamp": at.isoformat(),
        }
        if resource_id is not None:
            item["resourceId"] = resource_id
        return item

    def enqueue(self, item: dict[str, Any]) -> bool:
        """Queue a report (any thread); False when the queue is full."""
        seq = self.queue.put(item)
        if seq is None:
            return False
        if not self._wake_requested and (
            self._flusher is None or len(self.queue) >= self.options.batch_size
        ):
            # Once per wake-up, not once per report: waking the loop is a system call.
            self._wake_requested = True
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._wake)
        return True

    def _wake(self) -> None:
        self._wake_requested = False
        if self._flusher is None and not self._closing:
            assert self._loop is not None
            self._flusher = self._loop.create_task(self._flush_loop())
        if self._wake_flusher is not None:
            self._wake_flusher.set()

    async def flush(self) -> None:
        """Wait until every report enqueued before this call is acknowledged by allot."""
        target = self.queue.last_seq
        if self.queue.done_seq >= target:
            return
        self._wake()
        assert self._acked is not None
        while self.queue.done_seq < target:
            self._acked.clear()
            self._wake()
            await self._acked.wait()

    async def _flush_loop(self) -> None:
        assert self._wake_flusher is not None and self._acked is not None
        backoff = Backoff(0.1, 5.0)
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.options.flush_interval):
                    await self._wake_flusher.wait()
            self._wake_flusher.clear()
            while batch := self.queue.take(self.options.batch_size):
                await self._send_until_acknowledged(batch, backoff)
                self.queue.acknowledge(batch)
                self._acked.set()
            self.queue.acknowledge([])
            self._acked.set()

    async def _send_until_acknowledged(self, batch: list[Report], backoff: Backoff) -> None:
        """Send one batch until allot answers it; the same keys every time."""
        items = [report.item for report in batch]
        while True:
            try:
                data = await self.graphql(REPORT_BATCH, {"i": {"usages": items}})
            except AllotError as error:
                delay = backoff.next_delay()
                log.warning(
                    "allot: usage batch not acknowledged (%s); retry in %.2fs", error, delay
                )
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            payload = data["reportUsageBatch"]
            for refusal in payload.get("errors") or ():
                for item in items:
                    self._usage_error(item, refusal.get("code"), refusal.get("message"))
            for item, result in zip(items, payload.get("results") or (), strict=False):
                if not result.get("accepted"):
                    for refusal in result.get("errors") or ():
                        self._usage_error(item, refusal.get("code"), refusal.get("message"))
            return

    def _usage_error(self, item: dict[str, Any], code: str | None, message: str | None) -> None:
        log.warning("allot: usage report %s refused: %s %s", item["idempotencyKey"], code, message)
        if self.options.on_usage_error is not None:
            try:
                self.options.on_usage_error(item, code or "", message or "")
            except Exception:
                log.exception("allot: on_usage_error raised")

    async def consume(self, item: dict[str, Any]) -> dict[str, Any]:
        """An atomic consume, straight to allot; retried with the same key while unreachable
        (a refused consume stores no key, so a retry is judged again)."""
        item = {**item, "consume": True}
        attempts = 3
        for attempt in range(attempts):
            try:
                data = await self.graphql(CONSUME, {"i": item})
            except AllotUnavailable:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.1 * 2**attempt)
                continue
            return data["reportUsage"]  # type: ignore[no-any-return]
        raise AssertionError("unreachable")
