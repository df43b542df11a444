"""Console sessions over HTTP: the `allot_session` cookie, its CSRF token, and the principal
a session acts as on /graphql (docs/console.md, "Users, sessions and security").

The rules (passwords, tokens, expiry) are app/domain/users.py's; this module reads cookies and
headers and answers the request's questions: who is logged in, in which environment."""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.auth import KeyKind, Principal, UserRole
from app.domain import users as domain
from app.settings import Settings
from app.store import users as store
from app.store.rows import EnvironmentRow, SessionRow

SESSION_COOKIE = "allot_session"
CSRF_HEADER = "x-csrf-token"
ENVIRONMENT_HEADER = "x-allot-environment"
# A session's last_seen_at is written at most this often (not on every request).
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class LiveSession:
    """A session cookie that is valid now: the session, its user, the account's environments."""

    row: SessionRow
    environments: list[EnvironmentRow]

    @property
    def role(self) -> UserRole:
        return UserRole(self.row.role)

    def environment(self, ref: str | None) -> EnvironmentRow | None:
        """The environment a request names (X-Allot-Environment: its id or slug) among the
        account's; absent: the first. None for anything not of this account."""
        if not self.environments:
            return None
        if ref is None or not ref.strip():
            return self.environments[0]
        ref = ref.strip()
        try:
            pk: uuid.UUID | None = uuid.UUID(ref)
        except ValueError:
            pk = None  # a slug
        for environment in self.environments:
            if environment.slug == ref or environment.pk == pk:
                return environment
        return None

    def csrf_matches(self, presented: str | None) -> bool:
        if not presented:
            return False
        return hmac.compare_digest(presented.encode(), self.row.csrf_token.encode())

    def principal(self, environment: EnvironmentRow) -> Principal:
        """What the user may do in `environment`: a server key's rights (and the user's role
        for what only admins may do). `key_pk` is the session's id (its rate-limit bucket)."""
        return Principal(
            key_pk=self.row.pk,
            kind=KeyKind.SERVER,
            environment_pk=environment.pk,
            environment_slug=environment.slug,
            account_pk=self.row.account_pk,
            customer_tokens_required=environment.require_customer_tokens,
            user_pk=self.row.user_pk,
            user_role=self.role,
        )


def session_token(request: Request) -> str | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 200:
        return None
    return token


def lifetimes(settings: Settings) -> tuple[timedelta, timedelta]:
    """(absolute, idle) lifetime of a session."""
    return timedelta(days=settings.session_days), timedelta(hours=settings.session_idle_hours)


async def live_session(services: Any, request: Request) -> LiveSession | None:
    """The request's session when its cookie names one that is valid now (not ended, not
    expired, its user not disabled); an expired one is deleted. Touches last_seen_at."""
    token = session_token(request)
    if token is None:
        return None
    now: datetime = services.clock.now()
    _, idle = lifetimes(services.settings)
    async with services.db.raw() as conn:
        row = await store.session_for_token(conn, domain.hash_token(token))
        if row is None:
            return None
        if row.disabled_at is not None or not domain.session_is_live(
            row.last_seen_at, row.expires_at, now, idle
        ):
            await store.drop_session(conn, row.pk)
            return None
        if now - row.last_seen_at >= TOUCH_EVERY:
            await store.touch_session(conn, row.pk, now)
        environments = await store.environments_of(conn, row.account_pk)
    return LiveSession(row, environments)


def secure_cookies(request: Request, settings: Settings) -> bool:
    return (
        settings.secure_cookies
        or request.url.scheme == "https"
        or settings.public_url.startswith("https://")
    )


def set_session_cookie(
    response: Response, request: Request, settings: Settings, token: str
) -> None:
    absolute, _ = lifetimes(settings)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(absolute.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request, settings),
    )


def clear_session_cookie(response: Response, request: Request, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request, settings),
    )


def session_json(session: LiveSession, account_name: str) -> dict[str, Any]:
    """The body of GET /console/session."""
    row = session.row
    return {
        "user": {"id": str(row.user_pk), "email": row.email, "name": row.name, "role": row.role},
        "csrfToken": row.csrf_token,
        "account": {"id": str(row.account_pk), "name": account_name},
        "environments": [
            {"id": str(e.pk), "slug": e.slug, "name": e.name} for e in session.environments
        ],
    }
