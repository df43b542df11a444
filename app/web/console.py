"""The console's page: one HTML shell for /console and every /console/... deep link.

The shell loads only files served by allot from ``app/web/static/console`` (preact and htm
vendored as plain ES modules, see vendor/README.md there; no build step, no CDN) and then talks
to allot's own /graphql with the login session (docs/console.md). The login, logout, session
and invitation routes under /console are registered before these, so they win.

Every response carries a Content-Security-Policy allowing only 'self': no inline script, no
inline style sheet, no other origin, no framing.
"""

from __future__ import annotations

import pathlib

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

__all__ = ["CONSOLE_CSP", "console_routes", "console_shell", "static_files_dir"]

_STATIC_DIR = pathlib.Path(__file__).resolve().parent / "static" / "console"
STATIC_PREFIX = "/static/console"

CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONSOLE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

_SHELL = f"""\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>allot console</title>
<link rel="stylesheet" href="{STATIC_PREFIX}/console.css">
<script type="module" src="{STATIC_PREFIX}/app.js"></script>
</head>
<body>
<div id="app">Loading the console&hellip;</div>
<noscript>The allot console needs JavaScript.</noscript>
</body>
</html>
"""


def console_shell() -> str:
    """The HTML every console page starts from (the page itself is drawn by app.js)."""
    return _SHELL


async def console_page(request: Request) -> Response:
    # The shell holds nothing secret: the session is checked by /console/session, which
    # app.js asks first (401: to the login page). no-store so a logout leaves no page behind.
    return HTMLResponse(_SHELL, headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})


class _ConsoleStatic(StaticFiles):
    """The console's files, with the same security headers and revalidated on every load
    (no build step means no hashed file names: ETags keep reloads cheap)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                for name, value in SECURITY_HEADERS.items():
                    headers.append((name.lower().encode(), value.encode()))
                headers.append((b"cache-control", b"no-cache"))
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, with_headers)


def static_files_dir() -> pathlib.Path:
    return _STATIC_DIR


def console_routes() -> list[BaseRoute]:
    """The console's shell and files; put after the /console/login|logout|session|invite
    routes (they are more specific and must win)."""
    return [
        Mount(STATIC_PREFIX, app=_ConsoleStatic(directory=_STATIC_DIR), name="console-static"),
        Route("/console", console_page, methods=["GET"]),
        Route("/console/{path:path}", console_page, methods=["GET"]),
    ]
