"""The one core of both clients: the cache and the local check, with push (``_push``, the
engine's base class) and usage (``_usage``, its ``usage`` member).

Everything that waits runs on one asyncio loop (the caller's for ``AsyncAllotClient``, a
background thread's for ``AllotClient``); ``lookup`` and ``usage.enqueue`` are plain functions
callable from any thread, and are the hot paths.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from allot_sdk._backoff import Backoff
from allot_sdk._fallbacks import Fallback, check_fallback, fallback_answer
from allot_sdk._push import Subscriber
from allot_sdk._rules import CACHED, SERVER, Entitlement, answer, denied
from allot_sdk._state import (
    STATE_QUERY,
    CustomerState,
    Key,
)
from allot_sdk._usage import UsageErrorHandler, UsageSender
from allot_sdk.errors import AllotError, AllotUnavailable

log = logging.getLogger("allot_sdk")


def token_subject(token: str) -> str | None:
    """The customer a customer token names (its JWT `sub`), read without verifying it: only
    the server can verify it, and it does; this just tells the SDK whom to subscribe to."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    return subject if isinstance(subject, str) else None


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
        if self.customer_token and self.subscribe_customer_id is None:
            # A client key may subscribe to its token's customer only: that one, by default.
            self.subscribe_customer_id = token_subject(self.customer_token)
        for fallback in (*self.fallbacks.values(), self.default_fallback):
            check_fallback(fallback)
        if not 0 < self.batch_size <= 1000:
            raise ValueError("batch_size is 1 to 1000 (reportUsageBatch takes 1,000)")
        if self.max_staleness <= 0 or self.request_timeout <= 0:
            raise ValueError("max_staleness and request_timeout must be positive")


class Engine(Subscriber):
    def __init__(self, options: Options) -> None:
        self.options = options
        self._states: dict[Key, CustomerState] = {}
        self._loading: dict[Key, asyncio.Future[CustomerState]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: httpx.AsyncClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._ws_task: asyncio.Task[None] | None = None
        self._closing = False
        # Connection epochs: states fetched on the live connection are current as of its
        # last sign of life (`_live_at`); others as of their own fetch.
        self._epoch = 0
        self._live_epoch = -1
        self._live_at = 0.0
        self._down_until = 0.0  # after a failure, checks use fallbacks at once until then
        self._down_backoff = Backoff(0.25, 5.0)
        self.usage = UsageSender(options, self.graphql)
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
            self.usage.bind(loop)
            self._tasks.append(loop.create_task(self._maintain()))

    async def aclose(self, flush_timeout: float) -> None:
        # asyncio.timeout rather than wait_for throughout: on Python 3.11, wait_for swallows a
        # cancellation that arrives as its awaitable completes, and a task would run on.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(flush_timeout):
                await self.usage.flush()
        if len(self.usage.queue):
            log.error("allot: %d usage reports not acknowledged at close", len(self.usage.queue))
        self._closing = True
        await self.usage.aclose()
        tasks = [*self._tasks, self._ws_task]
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

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(job)
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)
