"""The request id: one per HTTP request, shown to the client (the X-Request-Id header and
`extensions.requestId` of internal errors) and written on every log line of that request, so
an operator can find what went wrong from what the client saw.

A caller (or its proxy) may send its own `X-Request-Id` to correlate our logs with its own;
it is used only when it is short and plain (letters, digits, `.`, `_`, `-`): anything else
could forge log lines or break a log parser, and is replaced by a fresh id.

`guarded(endpoint)` wraps each keyed route: it sets the id for the request's log lines and
answers an exception the endpoint did not handle (a REST check failing, the database down while
authenticating) as the GraphQL executor answers one: logged at ERROR with its traceback and
the request id, and a masked INTERNAL_SERVER_ERROR for the client. A wrapper of each route
rather than an ASGI middleware: that extra layer cost ~10 % of a check (bench/run.py).
"""

from __future__ import annotations

import functools
import logging
import random
import re
from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from app.request_context import current_request_id

Endpoint = Callable[[Request], Awaitable[Response]]

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


def guarded(endpoint: Endpoint) -> Endpoint:
    """`endpoint` with the request's id in `current_request_id` while it runs, and an
    exception it does not handle answered as a logged, masked internal error."""

    @functools.wraps(endpoint)
    async def run(request: Request) -> Response:
        request_id = request_id_for(request)
        token = current_request_id.set(request_id)
        try:
            return await endpoint(request)
        except Exception:
            log.exception("internal error at %s (request %s)", request.url.path, request_id)
            return _internal_error(request_id)
        finally:
            current_request_id.reset(token)

    return run


def _internal_error(request_id: str) -> Response:
    body = {
        "errors": [
            {
                "message": "Internal server error.",
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
            }
        ]
    }
    return Response(
        orjson.dumps(body),
        status_code=500,
        media_type="application/json",
        headers={"X-Request-Id": request_id},
    )
