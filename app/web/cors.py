"""CORS for frontends calling /graphql and the REST routes from another origin.

`ALLOT_CORS_ORIGINS` (Settings.cors_origins) lists the origins allowed (comma-separated,
`https://app.example.com`; `*` for any origin, then without credentials). Empty (the
default): no CORS headers at all, so browsers refuse cross-origin reads.

Not an ASGI middleware (a layer every request pays for, docs/security.md): `wrap(endpoint)`
returns the endpoint itself when CORS is off, and otherwise adds the headers after it
answered — a request without an `Origin` header pays one header lookup. Preflights
(`OPTIONS`) are their own routes (`preflight`), answered without a key.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

Endpoint = Callable[[Request], Awaitable[Response]]

ALLOWED_HEADERS = (
    "Authorization",
    "X-API-Key",
    "Content-Type",
    "X-Allot-Customer-Token",
    "X-Request-Id",
)
EXPOSED_HEADERS = ("X-Request-Id", "Retry-After")
MAX_AGE_SECONDS = 600
_ALLOWED_LOWER = frozenset(h.lower() for h in ALLOWED_HEADERS)


@dataclass(frozen=True)
class CorsPolicy:
    origins: frozenset[str]
    any_origin: bool

    @classmethod
    def of(cls, origins: Sequence[str]) -> CorsPolicy:
        return cls(frozenset(o for o in origins if o != "*"), "*" in origins)

    @property
    def enabled(self) -> bool:
        return self.any_origin or bool(self.origins)

    def _allowed(self, origin: str) -> bool:
        return self.any_origin or origin in self.origins

    def _set_origin(self, response: Response, origin: str) -> None:
        headers = response.headers
        if self.any_origin and origin not in self.origins:
            headers["Access-Control-Allow-Origin"] = "*"
        else:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Allow-Credentials"] = "true"
        headers.append("Vary", "Origin")

    def wrap(self, endpoint: Endpoint) -> Endpoint:
        """`endpoint` answering with CORS headers for an allowed `Origin` (itself when off)."""
        if not self.enabled:
            return endpoint

        @functools.wraps(endpoint)
        async def run(request: Request) -> Response:
            response = await endpoint(request)
            origin = request.headers.get("origin")
            if origin is not None:
                if self._allowed(origin):
                    self._set_origin(response, origin)
                    response.headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSED_HEADERS)
                else:
                    response.headers.append("Vary", "Origin")
            return response

        return run

    def preflight(self, methods: Sequence[str]) -> Endpoint:
        """The `OPTIONS` answer of a route served with `methods`."""
        allow = ", ".join([*methods, "OPTIONS"])

        async def answer(request: Request) -> Response:
            origin = request.headers.get("origin")
            wanted = request.headers.get("access-control-request-method")
            if origin is None or wanted is None:  # not a preflight: what the route serves
                return Response(status_code=204, headers={"Allow": allow})
            if not self._allowed(origin):
                return Response(
                    f"Origin {origin} is not allowed (ALLOT_CORS_ORIGINS).",
                    status_code=403,
                    headers={"Allow": allow, "Vary": "Origin"},
                    media_type="text/plain",
                )
            requested = request.headers.get("access-control-request-headers", "")
            asked = {h.strip().lower() for h in requested.split(",") if h.strip()}
            if wanted.upper() not in methods or not asked <= _ALLOWED_LOWER:
                return Response(
                    "Method or headers not allowed: "
                    f"methods {', '.join(methods)}; headers {', '.join(ALLOWED_HEADERS)}.",
                    status_code=403,
                    headers={"Allow": allow, "Vary": "Origin"},
                    media_type="text/plain",
                )
            response = Response(status_code=204, headers={"Allow": allow})
            self._set_origin(response, origin)
            response.headers["Access-Control-Allow-Methods"] = ", ".join(methods)
            response.headers["Access-Control-Allow-Headers"] = ", ".join(ALLOWED_HEADERS)
            response.headers["Access-Control-Max-Age"] = str(MAX_AGE_SECONDS)
            return response

        return answer
