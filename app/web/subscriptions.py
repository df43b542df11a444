"""GraphQL subscriptions over WebSocket (`graphql-transport-ws`) on /graphql (docs/push.md).

strawberry's protocol handler speaks the protocol (connection_init within a timeout, ping and
pong, subscribe, complete, the close codes); this module gives it what is ours:

* the key comes in the connection_init payload (`{"Authorization": "Bearer <key>"}` or
  `{"apiKey": "<key>"}`, with an optional `customerToken`); a missing or unknown key (or a
  refused customer token) closes the socket with 4403 (Forbidden),
  as a refused connection_init does in the protocol; failed keys count toward the address's
  limit of failed authentications, and a connection takes one token of its key's rate limit;
* each operation gets a context of its own for that key (environment-scoped: every
  subscription resolver sees only the key's environment), and its document is checked by the
  one document checker (app/schema/documents.py: parse, budget, validation and the key's cost
  limit, through the schema's `CheckedDocuments` extension) — its variables pass the input
  boundary first;
* only subscriptions run here (queries and mutations go over HTTP);
* at most MAX_SUBSCRIPTIONS operations at once per connection.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import timedelta
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.websockets import WebSocket
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.types.graphql import OperationType

from app.auth import Principal, principal_with_token
from app.customer_tokens import TokenRefused
from app.schema.documents import input_values_limit
from app.schema.input_boundary import unsafe_variable
from app.web.graphql import Services

log = logging.getLogger("allot.push")

PROTOCOL = "graphql-transport-ws"
MAX_SUBSCRIPTIONS = 100  # operations at once on one connection
CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)
MAX_KEY_CHARS = 200


def key_in(payload: dict[str, Any]) -> str | None:
    """The key a connection_init payload presents, if it could be one."""
    secret = payload.get("apiKey")
    if not isinstance(secret, str) or not secret:
        header = payload.get("Authorization", payload.get("authorization"))
        secret = None
        if isinstance(header, str):
            scheme, _, value = header.partition(" ")
            if scheme.lower() == "bearer":
                secret = value.strip()
    if not secret or len(secret) > MAX_KEY_CHARS:
        return None
    return secret


class Connection:
    """One socket's state: the connection_init payload and, once accepted, the principal."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.connection_params: dict[str, Any] = {}
        self.principal: Principal | None = None
        self.request_id = uuid.uuid4().hex


class _View:
    """What strawberry's handler and socket adapter ask of a view."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    def encode_json(self, data: object) -> str:
        return orjson.dumps(data).decode()

    async def on_ws_connect(self, connection: Connection) -> None:
        services = self.services
        failures = services.rate_limits.auth_failures
        secret = key_in(connection.connection_params)
        if (
            secret is not None
            and failures.wait(connection.address)
            and services.cached_principal(secret) is None
        ):
            raise ConnectionRejectionError()
        principal = None if secret is None else await services.principal_for(secret)
        if principal is None:
            if secret is not None:
                failures.take(connection.address)
            raise ConnectionRejectionError()
        if services.rate_limits.take(principal):
            raise ConnectionRejectionError()
        # A customer token (`customerToken`) narrows a client key to its customer, as the
        # X-Allot-Customer-Token header does over HTTP; a bad one refuses the connection.
        token = connection.connection_params.get("customerToken")
        narrowed = principal_with_token(principal, token)
        if isinstance(narrowed, TokenRefused):
            raise ConnectionRejectionError()
        connection.principal = narrowed


class _Streams:
    """The schema as the handler sees it: each operation runs with a context of its own, and
    only subscriptions run."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def stream(
        self,
        query: str,
        variable_values: dict[str, Any] | None = None,
        context_value: Any = None,
        root_value: Any = None,
        operation_name: str | None = None,
    ) -> Any:
        connection: Connection = context_value
        assert connection.principal is not None
        context = self.services.context(connection.principal, connection.request_id)
        return await self.services.schema.stream(
            query,
            variable_values=variable_values,
            context_value=context,
            root_value=root_value,
            operation_name=operation_name,
            allowed_operation_types=(OperationType.SUBSCRIPTION,),
        )


class Handler(BaseGraphQLTransportWSHandler[Any, Any]):
    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload: Any = message.get("payload")
        connection: Connection = self.context
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            await self.websocket.close(code=4400, reason="Invalid subscribe message")
            return
        variables = payload.get("variables")
        if variables is not None and not isinstance(variables, dict):
            await self.websocket.close(code=4400, reason="`variables` must be an object")
            return
        if variables and connection.principal is not None and self.connection_acknowledged:
            services: Services = self.view.services  # type: ignore[attr-defined]
            unsafe = unsafe_variable(
                variables, input_values_limit(services.settings, connection.principal.is_server)
            )
            if unsafe is not None:
                error = GraphQLError(unsafe, extensions={"code": "INVALID_INPUT"})
                await self.send_message(
                    {"id": message["id"], "type": "error", "payload": [error.formatted]}
                )
                return
        await super().handle_subscribe(message)


async def graphql_ws(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    if PROTOCOL not in websocket.scope.get("subprotocols", []):
        await websocket.close(code=4406, reason="Subprotocol not acceptable")
        return
    await websocket.accept(subprotocol=PROTOCOL)
    view = _View(services)
    address = websocket.client.host if websocket.client else ""
    handler = Handler(
        view=view,  # type: ignore[arg-type]
        websocket=ASGIWebSocketAdapter(view, websocket, websocket),  # type: ignore[arg-type]
        context=Connection(address),
        root_value=None,
        schema=_Streams(services),  # type: ignore[arg-type]
        connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS,
    )
    try:
        await handler.handle()
    except Exception:  # the database is away (the key lookup failed): 1011, logged once
        log.exception("push connection failed")
        with contextlib.suppress(Exception):
            await websocket.close(code=1011, reason="Internal server error")
