"""The usage queue: reports accepted from any thread, taken in batches by one flusher.

Each report gets its idempotency key (and its timestamp) when it is enqueued, so every retry
of it is the same report to allot: counted once however often it is sent. Batches leave in
order, one at a time, and a batch leaves the queue only when allot acknowledged every report
in it (recorded, replayed, or refused for good).

Bounded: ``capacity`` reports waiting or in flight. When it is full, ``put`` returns False and
the caller waits for room (``wait_for_room``) up to its enqueue timeout, then raises
``UsageQueueFull``: the SDK never drops a report it accepted.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Report:
    seq: int
    item: dict[str, Any]  # a ReportUsageInput, idempotencyKey and timestamp included


class UsageQueue:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("the usage queue holds at least one report")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._waiting: deque[Report] = deque()
        self._in_flight = 0
        self._seq = 0  # the last sequence number given
        self._done = 0  # every report up to this one is acknowledged

    def put(self, item: dict[str, Any]) -> int | None:
        """Enqueue a report; its sequence number, or None when the queue is full."""
        with self._lock:
            if len(self._waiting) + self._in_flight >= self.capacity:
                return None
            self._seq += 1
            self._waiting.append(Report(self._seq, item))
            return self._seq

    def wait_for_room(self, timeout: float) -> bool:
        with self._room:
            return self._room.wait_for(
                lambda: len(self._waiting) + self._in_flight < self.capacity, timeout
            )

    def take(self, limit: int) -> list[Report]:
        """The next batch (at most `limit`), now in flight until `acknowledge`."""
        with self._lock:
            batch = [self._waiting.popleft() for _ in range(min(limit, len(self._waiting)))]
            self._in_flight += len(batch)
            return batch

    def acknowledge(self, batch: list[Report]) -> None:
        with self._room:
            self._in_flight -= len(batch)
            if batch:
                self._done = max(self._done, batch[-1].seq)
            if not self._waiting and not self._in_flight:
                self._done = self._seq
            self._room.notify_all()

    @property
    def last_seq(self) -> int:
        return self._seq

    @property
    def done_seq(self) -> int:
        return self._done

    def __len__(self) -> int:
        """Reports not yet acknowledged (waiting or in flight)."""
        return len(self._waiting) + self._in_flight


def new_idempotency_key() -> str:
    return "sdk-" + uuid.uuid4().hex
