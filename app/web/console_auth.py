"""The console's login pages and session endpoints (HTTP only; the rules are
app/domain/users.py's, the cookies app/web/sessions.py's):

- GET/POST /console/login: a server-rendered form (no JavaScript, no CDN), protected against
  login CSRF by a pre-session cookie; failures answer one generic message and are rate-limited
  per email and per client address (429 past the limit).
- POST /console/logout: ends the session (its CSRF token required).
- GET /console/session: who is logged in, the CSRF token, the account and its environments
  (JSON; 401 when not logged in).
- GET/POST /console/invite/{token}: accept an invitation (name and password), then logged in.
"""

from __future__ import annotations

import hmac
import math
import secrets
from html import escape
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.domain import audit
from app.domain import users as domain
from app.domain.audit import AuditActor
from app.errors import DomainError, DomainErrors, each_error
from app.store import users as store
from app.web.graphql import Services, error_body, json_response, read_limited_body
from app.web.html_pages import standalone_page
from app.web.request_ids import request_id_for
from app.web.sessions import (
    CSRF_HEADER,
    clear_session_cookie,
    lifetimes,
    live_session,
    secure_cookies,
    session_json,
    set_session_cookie,
)

FORM_CSRF_COOKIE = "allot_form_csrf"
MAX_FORM_BYTES = 16_384
GENERIC_FAILURE = "Email or password is incorrect."
CONSOLE_HOME = "/console"

_STYLE = """
body{font-family:system-ui,sans-serif;background:#f5f6f8;margin:0;display:flex;
justify-content:center;align-items:center;min-height:100vh;color:#1d2330}
main{background:#fff;padding:2rem 2.5rem;border-radius:8px;box-shadow:0 1px 4px #0002;
width:22rem}
h1{font-size:1.3rem;margin:0 0 1.2rem}label{display:block;margin:.8rem 0 .3rem;font-size:.9rem}
input{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #bbc;border-radius:4px;
font-size:1rem}button{margin-top:1.2rem;width:100%;padding:.6rem;border:0;border-radius:4px;
background:#2f5bd3;color:#fff;font-size:1rem;cursor:pointer}
.error{background:#fde8e8;color:#8a1c1c;padding:.6rem;border-radius:4px;margin-bottom:.5rem}
.field-error{color:#8a1c1c;font-size:.85rem}
"""


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = standalone_page(f"{title} · allot", _STYLE, body)
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    )
    response.headers["Referrer-Policy"] = "no-referrer"  # invitation links carry a token
    return response


def _form_token(request: Request) -> str:
    """The pre-session CSRF token of the request's forms (the cookie's, or a new one)."""
    token = request.cookies.get(FORM_CSRF_COOKIE)
    if token and 20 <= len(token) <= 100:
        return token
    return secrets.token_urlsafe(32)


def _with_form_cookie(response: Response, request: Request, token: str) -> Response:
    response.set_cookie(
        FORM_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request, _services(request).settings),
    )
    return response


def _form_csrf_ok(request: Request, form: dict[str, str]) -> bool:
    cookie = request.cookies.get(FORM_CSRF_COOKIE) or ""
    sent = form.get("csrf", "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), sent.encode())


async def _read_form(request: Request) -> dict[str, str] | None:
    """An application/x-www-form-urlencoded body (the first value of each field), or None."""
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    body = await read_limited_body(request, MAX_FORM_BYTES)
    if body is None:
        return None
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return None
    return {key: values[0] for key, values in parsed.items()}


def safe_next(raw: str | None) -> str:
    """A same-site path to go to after logging in (anything else: the console)."""
    if not raw or len(raw) > 500:
        return CONSOLE_HOME
    if not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return CONSOLE_HOME
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        return CONSOLE_HOME
    return raw


def _login_form(
    token: str, email: str = "", next_path: str = CONSOLE_HOME, error: str | None = None
) -> str:
    alert = f"<p class=error role=alert>{escape(error)}</p>" if error else ""
    action = "/console/login"
    if next_path != CONSOLE_HOME:
        action += "?next=" + quote(next_path, safe="")
    return (
        f"<h1>Log in to allot</h1>{alert}"
        f'<form method=post action="{escape(action)}">'
        f'<input type=hidden name=csrf value="{escape(token)}">'
        f'<input type=hidden name=next value="{escape(next_path)}">'
        "<label for=email>Email</label>"
        f"<input id=email name=email type=email autocomplete=username required autofocus "
        f'value="{escape(email)}">'
        "<label for=password>Password</label>"
        "<input id=password name=password type=password autocomplete=current-password required>"
        "<button type=submit>Log in</button></form>"
    )


def _login_page(
    request: Request,
    email: str = "",
    next_path: str = CONSOLE_HOME,
    error: str | None = None,
    status: int = 200,
) -> Response:
    token = _form_token(request)
    page = _page("Log in", _login_form(token, email, next_path, error), status)
    return _with_form_cookie(page, request, token)


async def login_page(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    if await live_session(_services(request), request) is not None:
        return RedirectResponse(next_path, status_code=303)
    return _login_page(request, next_path=next_path)


async def login_submit(request: Request) -> Response:
    services = _services(request)
    form = await _read_form(request)
    if form is None:
        return _login_page(request, error="The form could not be read: try again.", status=400)
    email = form.get("email", "")[: domain.MAX_EMAIL + 10]
    next_path = safe_next(form.get("next") or request.query_params.get("next"))
    if not _form_csrf_ok(request, form):
        return _login_page(
            request, email, next_path, "The form expired: please log in again.", status=403
        )
    limits = services.rate_limits
    address = request.client.host if request.client else ""
    email_key = email.strip().lower()
    # A failure's token is taken before the password is checked (so a burst of attempts at
    # once cannot all pass before their failures count) and given back when it succeeds.
    wait = limits.login_by_email.take(email_key)
    if not wait:
        wait = limits.login_by_address.take(address)
        if wait:
            limits.login_by_email.give_back(email_key)
    if wait:
        seconds = max(1, math.ceil(wait))
        response = _login_page(
            request,
            email,
            next_path,
            f"Too many failed logins: try again in {seconds} seconds.",
            status=429,
        )
        response.headers["Retry-After"] = str(seconds)
        return response
    absolute, _ = lifetimes(services.settings)
    async with services.db.raw() as conn:
        new = await domain.log_in(
            conn, email, form.get("password", ""), services.clock.now(), absolute
        )
    if new is None:
        return _login_page(request, email, next_path, GENERIC_FAILURE, status=401)
    limits.login_by_email.give_back(email_key)
    limits.login_by_address.give_back(address)
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(response, request, services.settings, new.token)
    response.delete_cookie(FORM_CSRF_COOKIE, path="/console")
    return response


async def logout(request: Request) -> Response:
    services = _services(request)
    session = await live_session(services, request)
    if session is not None:
        sent = request.headers.get(CSRF_HEADER)
        if sent is None:
            form = await _read_form(request)
            sent = (form or {}).get("csrf")
        if not session.csrf_matches(sent):
            request_id = request_id_for(request)
            return json_response(
                error_body(
                    "Logging out needs the session's CSRF token (X-CSRF-Token, or a csrf "
                    "form field).",
                    "FORBIDDEN",
                    request_id,
                ),
                status=403,
                request_id=request_id,
            )
        async with services.db.raw() as conn:
            await store.drop_session(conn, session.row.pk)
    response = RedirectResponse("/console/login", status_code=303)
    clear_session_cookie(response, request, services.settings)
    return response


async def session_info(request: Request) -> Response:
    services = _services(request)
    session = await live_session(services, request)
    if session is None:
        request_id = request_id_for(request)
        return json_response(
            error_body("Not logged in (POST /console/login).", "UNAUTHENTICATED", request_id),
            status=401,
            request_id=request_id,
        )
    async with services.db.raw() as conn:
        name = await store.account_name(conn, session.row.account_pk)
    response = json_response(session_json(session, name))
    response.headers["Cache-Control"] = "no-store"
    return response


# --- invitations ---------------------------------------------------------------------------


def _invite_form(
    token: str, csrf: str, email: str, name: str, errors: dict[str, str] | None = None
) -> str:
    errors = errors or {}
    general = errors.get("", "")
    alert = f"<p class=error role=alert>{escape(general)}</p>" if general else ""

    def field_error(key: str) -> str:
        message = errors.get(key)
        return f"<p class=field-error>{escape(message)}</p>" if message else ""

    return (
        f"<h1>Join allot</h1><p>You were invited as <b>{escape(email)}</b>.</p>{alert}"
        f'<form method=post action="/console/invite/{escape(quote(token, safe=""))}">'
        f'<input type=hidden name=csrf value="{escape(csrf)}">'
        "<label for=name>Your name</label>"
        f'<input id=name name=name autocomplete=name value="{escape(name)}">{field_error("name")}'
        f"<label for=password>Password (at least {domain.MIN_PASSWORD} characters)</label>"
        "<input id=password name=password type=password autocomplete=new-password required>"
        f"{field_error('password')}<button type=submit>Create my login</button></form>"
    )


def _invalid_invitation() -> Response:
    return _page(
        "Invitation",
        "<h1>Invitation</h1><p class=error>This invitation link is unknown, used or "
        "expired. Ask an admin of your account for a new one.</p>",
        status=404,
    )


async def invite_page(request: Request) -> Response:
    services = _services(request)
    token = request.path_params["token"]
    async with services.db.session() as session:
        invitation = await domain.open_invitation(session, token, services.clock.now())
    if invitation is None:
        return _invalid_invitation()
    csrf = _form_token(request)
    page = _page("Join", _invite_form(token, csrf, invitation.email, invitation.name))
    return _with_form_cookie(page, request, csrf)


async def invite_submit(request: Request) -> Response:
    services = _services(request)
    token = request.path_params["token"]
    form = await _read_form(request)
    now = services.clock.now()
    async with services.db.session() as session:
        invitation = await domain.open_invitation(session, token, now)
    if invitation is None:
        return _invalid_invitation()
    csrf = _form_token(request)
    if form is None or not _form_csrf_ok(request, form):
        body = _invite_form(
            token, csrf, invitation.email, invitation.name, {"": "The form expired: try again."}
        )
        return _with_form_cookie(_page("Join", body, status=403), request, csrf)
    name = form.get("name", "")
    password = form.get("password", "")
    actor = AuditActor("user", "acceptInvitation", now, request_id=request_id_for(request))
    try:
        async with audit.transaction(services.db, actor) as session:
            user = await domain.accept_invitation(session, token, name, password, now)
    except (DomainError, DomainErrors) as error:
        errors = each_error(error)
        by_field = {(e.field or [""])[-1]: e.message for e in errors}
        if "token" in by_field:
            return _invalid_invitation()
        if "email" in by_field:  # a user with that email was created since the invitation
            by_field[""] = by_field.pop("email")
        body = _invite_form(token, csrf, invitation.email, name, by_field)
        return _with_form_cookie(_page("Join", body, status=400), request, csrf)
    absolute, _ = lifetimes(services.settings)
    # The session of the user just made (not a login by email: the same email and password
    # may belong to a user of another account).
    async with services.db.raw() as conn:
        new = await domain.start_session(conn, user.pk, now, absolute)
    response = RedirectResponse(CONSOLE_HOME, status_code=303)
    set_session_cookie(response, request, services.settings, new.token)
    response.delete_cookie(FORM_CSRF_COOKIE, path="/console")
    return response


def routes() -> list[Any]:
    from starlette.routing import Route

    from app.web.request_ids import guarded

    return [
        Route("/console/login", guarded(login_page), methods=["GET"]),
        Route("/console/login", guarded(login_submit), methods=["POST"]),
        Route("/console/logout", guarded(logout), methods=["POST"]),
        Route("/console/session", guarded(session_info), methods=["GET"]),
        Route("/console/invite/{token}", guarded(invite_page), methods=["GET"]),
        Route("/console/invite/{token}", guarded(invite_submit), methods=["POST"]),
    ]
