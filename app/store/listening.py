"""A connection that LISTENs for notifications, kept open for as long as the process runs.

The raw pool never keeps session state such as LISTEN, so each listener has a connection of
its own, pinged every PING_SECONDS (a silently broken one is noticed) and opened again
RETRY_SECONDS after it breaks. The two listeners (key revocations, push) say what to do with a
notification and when listening starts or stops; this says how to keep listening.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

log = logging.getLogger("allot.listening")

PING_SECONDS = 1.0
RETRY_SECONDS = 1.0


class Listener:
    """Subclasses name their channels, their connection class and what they listen for, and
    handle `_notified`; `_started(again)` runs once listening (again: after a break),
    `_stopped()` when it breaks."""

    channels: tuple[str, ...] = ()
    connection_class: type[asyncpg.Connection] = asyncpg.Connection
    what = "notifications"

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self.listening = False
        self.ready = asyncio.Event()  # set once the first LISTEN is in place (tests wait on it)

    def _notified(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        raise NotImplementedError

    def _started(self, again: bool) -> None:
        """Listening: `again` after a break (notifications in between may have been missed)."""

    def _stopped(self) -> None:
        """No longer listening."""

    async def _listen_once(self) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(
            self._dsn, timeout=10, connection_class=self.connection_class
        )
        try:
            for channel in self.channels:
                await conn.add_listener(channel, self._notified)
            self.listening = True
            self._started(again=self.ready.is_set())
            self.ready.set()
            while True:
                await asyncio.sleep(PING_SECONDS)
                await conn.fetchval("SELECT 1", timeout=PING_SECONDS)
        finally:
            self.listening = False
            self._stopped()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)

    async def run_forever(self) -> None:
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: keep trying
                log.warning("not listening for %s (%s); retrying", self.what, exc)
            await asyncio.sleep(RETRY_SECONDS)
