"""The request id: one per HTTP request, shown to the client (the X-Request-Id header and
`extensions.requestId` of internal errors) and written on every log line of that request, so
an operator can find what went wrong from what the client saw.

A caller (or its proxy) may send its own `X-Request-Id` to correlate our logs with its own;
it is used only when it is short and plain (letters, digits, `.`, `_`, `-`): anything else
could forge log lines or break a log parser, and is replaced by a fresh id.

The middleware also answers an exception no endpoint handled (a REST check failing, the
database down while authenticating) as the GraphQL executor answers one: logged at ERROR
with its traceback and the request id, and a masked INTERNAL_SERVER_ERROR for the client.
"""

from __future__ import annotations

import logging
import random
import re

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.request_context import current_request_id

SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
SCOPE_KEY = "allot.request_id"

log = logging.getLogger("allot.http")


def new_request_id() -> str:
    """16 random hex digits (the form ids always had). An id names a request in logs; it is
    no secret, so the process's PRNG serves (a system call for each, `os.urandom`, showed as
    ~2 % of a check's CPU)."""
    return f"{random.getrandbits(64):016x}"


def sanitised(incoming: str | bytes | None) -> str | None:
    """`incoming` if it is a safe request id, else None."""
    if isinstance(incoming, bytes):
        try:
            incoming = incoming.decode("ascii")
        except UnicodeDecodeError:
            return None
    if incoming is None or SAFE_REQUEST_ID.fullmatch(incoming) is None:
        return None
    return incoming


def _from_scope(scope: Scope) -> str:
    given = scope.get(SCOPE_KEY)
    if isinstance(given, str):
        return given
    request_id = None
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            request_id = sanitised(value)
            break
    request_id = request_id or new_request_id()
    scope[SCOPE_KEY] = request_id
    return request_id


def request_id_for(request: Request) -> str:
    """The request's id: the caller's X-Request-Id when safe, else a fresh one (the same
    for every call during one request)."""
    return _from_scope(request.scope)


def log_client_error(code: str, message: str, path: object = None) -> None:
    """One INFO line for an error answered to the client (its mistake, not ours): no
    traceback. The message is quoted (repr) so caller-supplied text stays on one line."""
    log.info(
        "client error %s at %s: %r (request %s)", code, path, message, current_request_id.get()
    )


class RequestIdMiddleware:
    """Gives every HTTP request its id (in the scope and in `current_request_id`) and turns an
    unhandled exception into a logged, masked internal error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _from_scope(scope)
        token = current_request_id.set(request_id)
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("internal error at %s (request %s)", scope.get("path"), request_id)
            if started:
                raise  # a response is under way: nothing better to send
            await _internal_error(send, request_id)
        finally:
            current_request_id.reset(token)


async def _internal_error(send: Send, request_id: str) -> None:
    body = orjson.dumps(
        {
            "errors": [
                {
                    "message": "Internal server error.",
                    "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
                }
            ]
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
