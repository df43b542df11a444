"""Revoking an API key takes effect in every server process at once, not after the per-process
key cache expires.

`revoke_api_key` sends `NOTIFY allot_api_key_revoked, '<key pk>'` in the revoking transaction
(PostgreSQL delivers it on commit). Every server process keeps one connection that LISTENs on
the channel and drops the key from its cache when the notification arrives, typically a few
milliseconds after the commit. While that connection is down (the database restarted, the
network broke), the process cannot hear revocations, so it does not trust its cache at all
until it listens again; the connection is pinged every PING_SECONDS so that a silently broken
one is noticed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg

from app.store.listening import Listener

log = logging.getLogger("allot.keys")

CHANNEL = "allot_api_key_revoked"
# A payload `env:<environment pk>`: a setting the keys' principals carry changed
# (`requireCustomerTokens`): every cached key is dropped, read again on its next request.
ENVIRONMENT_CHANGED = "env:"


class ListenerConnection(asyncpg.Connection):
    """The listener's own connection: a class of its own so that its pings are told apart
    from requests' round trips (tests count those)."""


class RevocationListener(Listener):
    """LISTENs for revocations on a connection of its own (the raw pool never keeps session
    state such as LISTEN). `on_revoked(pk)` drops one key; `on_reset()` drops them all (when
    listening starts or stops: revocations in between may have been missed)."""

    channels = (CHANNEL,)
    connection_class = ListenerConnection
    what = "key revocations"

    def __init__(
        self,
        dsn: str,
        on_revoked: Callable[[uuid.UUID], None],
        on_reset: Callable[[], None],
    ) -> None:
        super().__init__(dsn)
        self._on_revoked = on_revoked
        self._on_reset = on_reset

    def _notified(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        if str(payload).startswith(ENVIRONMENT_CHANGED):
            self._on_reset()
            return
        try:
            key_pk = uuid.UUID(str(payload))
        except ValueError:
            log.warning("ignoring a malformed key revocation notice %r", str(payload)[:100])
            return
        self._on_revoked(key_pk)

    def _started(self, again: bool) -> None:
        self._on_reset()  # anything revoked before the LISTEN is forgotten now

    def _stopped(self) -> None:
        self._on_reset()  # the cache is not used meanwhile (`listening` is False)
