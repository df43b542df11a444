"""Usage on its way to allot: the queue's flusher (batches through reportUsageBatch, retried
with the same keys until answered) and the atomic consume (see ``_queue`` for the queue)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from allot_sdk._backoff import Backoff
from allot_sdk._queue import Report, UsageQueue, new_idempotency_key
from allot_sdk._state import CONSUME, REPORT_BATCH
from allot_sdk.errors import AllotError, AllotUnavailable

if TYPE_CHECKING:
    from allot_sdk._engine import Options

log = logging.getLogger("allot_sdk")

UsageErrorHandler = Callable[[dict[str, Any], str, str], None]
GraphQL = Callable[[str, Mapping[str, Any]], Awaitable[dict[str, Any]]]


class UsageSender:
    def __init__(self, options: Options, graphql: GraphQL) -> None:
        self.options = options
        self.graphql = graphql
        self.queue = UsageQueue(options.max_queue)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._wake_flusher: asyncio.Event | None = None
        self._acked: asyncio.Event | None = None
        self._wake_requested = False
        self._closing = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._wake_flusher = asyncio.Event()
        self._acked = asyncio.Event()

    async def aclose(self) -> None:
        self._closing = True
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._flusher

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
