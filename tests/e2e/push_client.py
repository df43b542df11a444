"""A small graphql-transport-ws client for the push tests (the `websockets` package)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from tests.graphql.usage.server import ApiServer

PROTOCOL = "graphql-transport-ws"


class Closed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed {code}: {reason}")
        self.code = code
        self.reason = reason


class PushClient:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def connect(cls, base_url: str, init: dict[str, Any] | None) -> PushClient:
        """Connected and acknowledged (Closed when the server refuses)."""
        ws = await websockets.connect(
            base_url.replace("http", "ws", 1) + "/graphql", subprotocols=[Subprotocol(PROTOCOL)]
        )
        client = cls(ws)
        await client.send({"type": "connection_init", "payload": init or {}})
        message = await client.receive()
        assert message["type"] == "connection_ack", message
        return client

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, within: float = 10) -> dict[str, Any]:
        try:
            text = await asyncio.wait_for(self.ws.recv(), within)
        except websockets.ConnectionClosed as closed:
            raise Closed(
                closed.rcvd.code if closed.rcvd else None, closed.rcvd.reason if closed.rcvd else ""
            ) from None
        message: dict[str, Any] = json.loads(text)
        return message

    async def subscribe(
        self, op_id: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        await self.send(
            {
                "id": op_id,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables or {}},
            }
        )

    async def next_payload(self, op_id: str, within: float = 10) -> dict[str, Any]:
        """The next message for an operation (pings answered, others' messages skipped)."""
        while True:
            message = await self.receive(within)
            if message["type"] == "ping":
                await self.send({"type": "pong"})
                continue
            if message.get("id") == op_id:
                return message

    async def nothing_for(self, seconds: float) -> list[dict[str, Any]]:
        """Every message received within `seconds` (expected: none)."""
        got = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            try:
                got.append(await self.receive(left))
            except TimeoutError:
                break
        return got

    async def close(self) -> None:
        await self.ws.close()


@contextlib.contextmanager
def two_api_servers(database_url: str, logs: Path) -> Iterator[tuple[ApiServer, ApiServer]]:
    """Two real server processes on one database."""
    first = ApiServer(database_url, logs / "a.log", workers=1)
    second = ApiServer(database_url, logs / "b.log", workers=1)
    try:
        first.start()
        second.start()
        yield first, second
    finally:
        first.close()
        second.close()
