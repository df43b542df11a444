"""The two clients: ``AllotClient`` (threads) and ``AsyncAllotClient`` (asyncio).

Both are thin shells over one ``Engine``: the async client runs it on the caller's loop, the
sync client on a loop of its own in a daemon thread. A check answered from the cache never
leaves the calling thread; only a miss (or a stale state) waits for the engine.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

from allot_sdk._engine import Engine, Options
from allot_sdk._fallbacks import Fallback
from allot_sdk._rules import Entitlement
from allot_sdk._usage import UsageErrorHandler
from allot_sdk.errors import AllotError, AllotUnavailable, UsageQueueFull

T = TypeVar("T")


@dataclass(frozen=True)
class ConsumeResult:
    """The answer to ``consume``: recorded or not, and the usage after it."""

    accepted: bool
    current_usage: float | None
    usage_limit: float | None
    error_code: str | None
    error_message: str | None

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ConsumeResult:
        usage = payload.get("usage") or {}
        errors = payload.get("errors") or [{}]
        first = errors[0] if not payload.get("accepted") else {}
        return cls(
            accepted=bool(payload.get("accepted")),
            current_usage=usage.get("currentUsage"),
            usage_limit=usage.get("usageLimit"),
            error_code=first.get("code"),
            error_message=first.get("message"),
        )


def _options(base_url: str, api_key: str, kwargs: dict[str, Any]) -> Options:
    return Options(base_url=base_url, api_key=api_key, **kwargs)


class _Common:
    _engine: Engine

    @property
    def pending_usage(self) -> int:
        """Usage reports accepted and not yet acknowledged by allot."""
        return len(self._engine.usage.queue)

    @property
    def subscription_events(self) -> int:
        return self._engine.events


class AsyncAllotClient(_Common):
    """allot from asyncio code. Use ``async with AsyncAllotClient(...)`` or call ``aclose()``.

    Keyword options (docs/sdk.md): ``fallbacks``, ``default_fallback``, ``raise_on_error``,
    ``max_staleness``, ``request_timeout``, ``ping_interval``, ``reconnect_base``,
    ``reconnect_cap``, ``max_customers``, ``subscribe``, ``customer_token``,
    ``subscribe_customer_id``, ``max_queue``, ``batch_size``, ``flush_interval``,
    ``enqueue_timeout``, ``on_usage_error``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        fallbacks: Mapping[str, Fallback] | None = None,
        default_fallback: Fallback = False,
        raise_on_error: bool = False,
        max_staleness: float = 60.0,
        on_usage_error: UsageErrorHandler | None = None,
        **options: Any,
    ) -> None:
        self._engine = Engine(
            _options(
                base_url,
                api_key,
                dict(
                    fallbacks=dict(fallbacks or {}),
                    default_fallback=default_fallback,
                    raise_on_error=raise_on_error,
                    max_staleness=max_staleness,
                    on_usage_error=on_usage_error,
                    **options,
                ),
            )
        )

    def _bound(self) -> Engine:
        self._engine.bind(asyncio.get_running_loop())
        return self._engine

    async def __aenter__(self) -> AsyncAllotClient:
        self._bound()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def check(
        self,
        customer_id: str,
        feature_id: str,
        requested_usage: float | None = None,
        requested_values: Sequence[str] | None = None,
        *,
        resource_id: str | None = None,
    ) -> Entitlement:
        engine = self._bound()
        found = engine.lookup(
            customer_id, feature_id, resource_id, requested_usage, requested_values
        )
        if found is not None:
            return found
        return await engine.check_slow(
            customer_id, feature_id, resource_id, requested_usage, requested_values
        )

    async def preload(self, customer_ids: Sequence[str], *, resource_id: str | None = None) -> None:
        """Load these customers' states now (raises AllotError when allot cannot answer)."""
        await self._bound().preload(customer_ids, resource_id)

    async def report_usage(
        self,
        customer_id: str,
        feature_id: str,
        value: float,
        *,
        mode: str = "DELTA",
        resource_id: str | None = None,
        timestamp: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        """Queue a usage report (sent in the background, in batches, exactly once)."""
        engine = self._bound()
        item = engine.usage.usage_item(
            customer_id, feature_id, value, mode, resource_id, timestamp, idempotency_key
        )
        if engine.usage.enqueue(item):
            return
        deadline = time.monotonic() + engine.options.enqueue_timeout
        delay = 0.001
        while time.monotonic() < deadline:
            await asyncio.sleep(delay)
            if engine.usage.enqueue(item):
                return
            delay = min(delay * 2, 0.05)
        raise UsageQueueFull(f"usage queue full ({engine.usage.queue.capacity} reports)")

    async def consume(
        self,
        customer_id: str,
        feature_id: str,
        value: float = 1.0,
        *,
        resource_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> ConsumeResult:
        """Record usage only if it fits under the hard limit, atomically, on the server."""
        engine = self._bound()
        item = engine.usage.usage_item(
            customer_id, feature_id, value, "DELTA", resource_id, None, idempotency_key
        )
        return ConsumeResult.from_payload(await engine.usage.consume(item))

    async def flush(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 (same API as AllotClient)
        async with asyncio.timeout(timeout):
            await self._bound().usage.flush()

    async def wait_connected(self, timeout: float) -> None:  # noqa: ASYNC109 (same API as AllotClient)
        """Wait until the subscription is live and resynced (tests, warm-up)."""
        async with asyncio.timeout(timeout):
            await self._bound().connected.wait()

    async def aclose(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 (same API as AllotClient)
        """Flush the usage queue (up to `timeout`), then stop everything."""
        await self._bound().aclose(timeout)


class AllotClient(_Common):
    """allot from threaded (or plain synchronous) code; same options as AsyncAllotClient.

    Starts a daemon thread running its engine; ``close()`` (or ``with``) flushes and stops it.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        fallbacks: Mapping[str, Fallback] | None = None,
        default_fallback: Fallback = False,
        raise_on_error: bool = False,
        max_staleness: float = 60.0,
        on_usage_error: UsageErrorHandler | None = None,
        **options: Any,
    ) -> None:
        self._engine = Engine(
            _options(
                base_url,
                api_key,
                dict(
                    fallbacks=dict(fallbacks or {}),
                    default_fallback=default_fallback,
                    raise_on_error=raise_on_error,
                    max_staleness=max_staleness,
                    on_usage_error=on_usage_error,
                    **options,
                ),
            )
        )
        self._loop = asyncio.new_event_loop()
        self._engine.bind(self._loop)
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="allot-sdk", daemon=True
        )
        self._thread.start()
        self._closed = False

    def _run(self, job: Coroutine[Any, Any, T], timeout: float | None) -> T:
        if self._closed:
            job.close()
            raise AllotError("the client is closed")
        future = asyncio.run_coroutine_threadsafe(job, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise AllotUnavailable(f"no answer within {timeout}s") from None

    def __enter__(self) -> AllotClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def check(
        self,
        customer_id: str,
        feature_id: str,
        requested_usage: float | None = None,
        requested_values: Sequence[str] | None = None,
        *,
        resource_id: str | None = None,
    ) -> Entitlement:
        engine = self._engine
        found = engine.lookup(
            customer_id, feature_id, resource_id, requested_usage, requested_values
        )
        if found is not None:
            return found
        job = engine.check_slow(
            customer_id, feature_id, resource_id, requested_usage, requested_values
        )
        try:
            # The engine answers within request_timeout; the margin covers the thread hop.
            return self._run(job, engine.options.request_timeout + 1.0)
        except AllotUnavailable as error:
            if engine.options.raise_on_error:
                raise
            return engine.fallback(feature_id, requested_usage, requested_values, str(error))

    def preload(self, customer_ids: Sequence[str], *, resource_id: str | None = None) -> None:
        self._run(self._engine.preload(customer_ids, resource_id), None)

    def report_usage(
        self,
        customer_id: str,
        feature_id: str,
        value: float,
        *,
        mode: str = "DELTA",
        resource_id: str | None = None,
        timestamp: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        """Queue a usage report (sent in the background, in batches, exactly once). Blocks up
        to ``enqueue_timeout`` while the queue is full, then raises UsageQueueFull."""
        engine = self._engine
        item = engine.usage.usage_item(
            customer_id, feature_id, value, mode, resource_id, timestamp, idempotency_key
        )
        if engine.usage.enqueue(item):
            return
        deadline = time.monotonic() + engine.options.enqueue_timeout
        while (left := deadline - time.monotonic()) > 0:
            if engine.usage.queue.wait_for_room(left) and engine.usage.enqueue(item):
                return
        raise UsageQueueFull(f"usage queue full ({engine.usage.queue.capacity} reports)")

    def consume(
        self,
        customer_id: str,
        feature_id: str,
        value: float = 1.0,
        *,
        resource_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> ConsumeResult:
        engine = self._engine
        item = engine.usage.usage_item(
            customer_id, feature_id, value, "DELTA", resource_id, None, idempotency_key
        )
        return ConsumeResult.from_payload(self._run(engine.usage.consume(item), None))

    def flush(self, timeout: float | None = None) -> None:
        self._run(self._engine.usage.flush(), timeout)

    def wait_connected(self, timeout: float) -> None:
        async def connected() -> None:
            async with asyncio.timeout(timeout):
                await self._engine.connected.wait()

        self._run(connected(), timeout + 1)

    def close(self, timeout: float = 10.0) -> None:
        """Flush the usage queue (up to `timeout`), then stop the engine and its thread."""
        if self._closed:
            return
        try:
            self._run(self._engine.aclose(timeout), timeout + 5)
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()
