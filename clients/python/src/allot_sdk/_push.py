"""Push: the graphql-transport-ws connection that keeps the engine's cache fresh
(docs/sdk.md, "State"): subscribe, ping, resync by version, reconnect with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from allot_sdk._backoff import Backoff
from allot_sdk._state import (
    CATALOG_PUBLISHED,
    ENTITLEMENTS_CHANGED,
    USAGE_CHANGED,
    CustomerState,
    Key,
)
from allot_sdk.errors import AllotError

if TYPE_CHECKING:
    from allot_sdk._engine import Options

log = logging.getLogger("allot_sdk")

FORBIDDEN_CLOSE = 4403  # graphql-transport-ws: connection_init refused (unknown key)


class Subscriber:
    """The push half of the engine (a base class of ``Engine``, which provides the cache)."""

    options: Options
    connected: asyncio.Event
    events: int
    _states: dict[Key, CustomerState]
    _closing: bool
    _epoch: int
    _live_epoch: int
    _live_at: float

    def store(self, state: CustomerState) -> bool:
        raise NotImplementedError

    async def _refetch(self, keys: Sequence[Key]) -> None:
        raise NotImplementedError

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        raise NotImplementedError

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
