"""A small graphql-transport-ws client for the push tests (the `websockets` package)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

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
        ws = await websockets.connect(base_url.replace("http", "ws", 1) + "/graphql",
                                      subprotocols=[PROTOCOL])  # type: ignore[list-item]
        client = cls(ws)
        await client.send({"type": "connection_init", "payload": init or {}})
        message = await client.receive()
        assert message["type"] == "connection_ack", message
        return client

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, timeout: float = 10) -> dict[str, Any]:
        try:
            text = await asyncio.wait_for(self.ws.recv(), timeout)
        except websockets.ConnectionClosed as closed:
            raise Closed(closed.rcvd.code if closed.rcvd else None,
                         closed.rcvd.reason if closed.rcvd else "") from None
        message: dict[str, Any] = json.loads(text)
        return message

    async def subscribe(self, op_id: str, query: str,
                        variables: dict[str, Any] | None = None) -> None:
        await self.send({"id": op_id, "type": "subscribe",
                         "payload": {"query": query, "variables": variables or {}}})

    async def next_payload(self, op_id: str, timeout: float = 10) -> dict[str, Any]:
        """The next message for an operation (pings answered, others' messages skipped)."""
        while True:
            message = await self.receive(timeout)
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
