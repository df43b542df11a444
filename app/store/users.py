"""SQL for users, their login sessions and invitations.

Audited writes (users, invitations) go through the caller's unit of work (an ORM session
under `audit.transaction`). Sessions are internal (app/domain/audit_fields.py says why) and
on the request path: they are read and written on raw connections, one statement each."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import RawConnection
from app.models import Account, Environment, User, UserInvitation, UserSession
from app.store.rows import EnvironmentRow, SessionRow

_Audited = TypeVar("_Audited", User, UserInvitation)

# --- users (ORM, audited) ------------------------------------------------------------------


async def lock_account(session: AsyncSession, account_pk: uuid.UUID) -> Account | None:
    """The account, locked for the transaction: user changes of one account run one at a time
    (an email taken twice at once, the last admin disabled twice at once)."""
    query = select(Account).where(col(Account.pk) == account_pk).with_for_update()
    return (await session.execute(query)).scalars().first()


async def find_user_by_email(
    session: AsyncSession, account_pk: uuid.UUID, email: str
) -> User | None:
    query = select(User).where(col(User.account_pk) == account_pk, col(User.email) == email)
    return (await session.execute(query)).scalars().first()


async def get_user(
    session: AsyncSession, account_pk: uuid.UUID, user_pk: uuid.UUID, *, lock: bool = False
) -> User | None:
    query = select(User).where(col(User.account_pk) == account_pk, col(User.pk) == user_pk)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalars().first()


async def list_users(session: AsyncSession, account_pk: uuid.UUID) -> list[User]:
    query = (
        select(User)
        .where(col(User.account_pk) == account_pk)
        .order_by(col(User.created_at), col(User.pk))
    )
    return list((await session.execute(query)).scalars())


async def users_by_pk(session: AsyncSession, pks: set[uuid.UUID]) -> dict[uuid.UUID, User]:
    if not pks:
        return {}
    query = select(User).where(col(User.pk).in_(pks))
    return {u.pk: u for u in (await session.execute(query)).scalars()}


async def count_users(session: AsyncSession, account_pk: uuid.UUID) -> int:
    query = select(func.count()).select_from(User).where(col(User.account_pk) == account_pk)
    return int((await session.execute(query)).scalar_one())


async def count_active_admins(session: AsyncSession, account_pk: uuid.UUID) -> int:
    query = (
        select(func.count())
        .select_from(User)
        .where(
            col(User.account_pk) == account_pk,
            col(User.role) == "admin",
            col(User.disabled_at).is_(None),
        )
    )
    return int((await session.execute(query)).scalar_one())


async def _write(session: AsyncSession, row: _Audited) -> _Audited:
    """A new or changed audited row into the caller's unit of work, flushed (so the audit
    entry and the next statement see it)."""
    session.add(row)
    await session.flush()
    return row


async def add_user(session: AsyncSession, user: User) -> User:
    return await _write(session, user)


async def save_user(session: AsyncSession, user: User) -> User:
    return await _write(session, user)


async def end_sessions_of(
    session: AsyncSession, user_pk: uuid.UUID, keep: uuid.UUID | None = None
) -> None:
    """Log a user out everywhere (disabled, a new password) but the session `keep`: sessions
    are not audited."""
    query = delete(UserSession).where(col(UserSession.user_pk) == user_pk)
    if keep is not None:
        query = query.where(col(UserSession.pk) != keep)
    await session.execute(query)


async def first_environment(session: AsyncSession, account_pk: uuid.UUID) -> Environment | None:
    query = (
        select(Environment)
        .where(col(Environment.account_pk) == account_pk)
        .order_by(col(Environment.created_at), col(Environment.pk))
        .limit(1)
    )
    return (await session.execute(query)).scalars().first()


# --- invitations (ORM, audited) ------------------------------------------------------------


async def add_invitation(session: AsyncSession, invitation: UserInvitation) -> UserInvitation:
    return await _write(session, invitation)


async def save_invitation(session: AsyncSession, invitation: UserInvitation) -> None:
    await _write(session, invitation)


async def invitation_for_token(
    session: AsyncSession, token_hash: str, *, lock: bool = False
) -> UserInvitation | None:
    query = select(UserInvitation).where(col(UserInvitation.token_hash) == token_hash)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalars().first()


# --- login sessions (raw connections, internal) --------------------------------------------


async def login_candidates(conn: RawConnection, email: str) -> list[tuple[uuid.UUID, str, bool]]:
    """Every user with this (lower-cased) email, of any account, oldest first: (pk, password
    hash, disabled)."""
    rows = await conn.fetch(
        "SELECT pk, password_hash, disabled_at IS NOT NULL AS disabled FROM users "
        "WHERE email = $1 ORDER BY created_at, pk",
        email,
    )
    return [(r["pk"], r["password_hash"], r["disabled"]) for r in rows]


async def start_session(
    conn: RawConnection,
    user_pk: uuid.UUID,
    token_hash: str,
    csrf_token: str,
    now: datetime,
    expires_at: datetime,
    rehashed_password: str | None = None,
) -> uuid.UUID:
    """A new session for a user who just proved their password (and the user's
    last_login_at; a password hash made with newer parameters replaces the old one)."""
    async with conn.transaction():
        pk = uuid.uuid4()
        await conn.execute(
            "INSERT INTO user_sessions (pk, token_hash, user_pk, csrf_token, created_at, "
            "last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $5, $6)",
            pk,
            token_hash,
            user_pk,
            csrf_token,
            now,
            expires_at,
        )
        await conn.execute(
            "UPDATE users SET last_login_at = $2, "
            "password_hash = COALESCE($3, password_hash) WHERE pk = $1",
            user_pk,
            now,
            rehashed_password,
        )
    return pk


_SESSION_SQL = """
SELECT s.pk, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, u.pk AS user_pk,
       u.account_pk, u.email, u.name, u.role, u.disabled_at
FROM user_sessions s JOIN users u ON u.pk = s.user_pk
WHERE s.token_hash = $1
"""


async def session_for_token(conn: RawConnection, token_hash: str) -> SessionRow | None:
    row = await conn.fetchrow(_SESSION_SQL, token_hash)
    if row is None:
        return None
    return SessionRow(
        pk=row["pk"],
        csrf_token=row["csrf_token"],
        created_at=row["created_at"],
        last_seen_at=row["last_seen_at"],
        expires_at=row["expires_at"],
        user_pk=row["user_pk"],
        account_pk=row["account_pk"],
        email=row["email"],
        name=row["name"],
        role=row["role"],
        disabled_at=row["disabled_at"],
    )


async def prune_expired_sessions(conn: RawConnection, now: datetime) -> int:
    """Forget sessions past their absolute expiry (idle ones are at most that old)."""
    status = await conn.execute("DELETE FROM user_sessions WHERE expires_at <= $1", now)
    return int(status.rsplit(" ", 1)[-1])


async def touch_session(conn: RawConnection, session_pk: uuid.UUID, now: datetime) -> None:
    await conn.execute(
        "UPDATE user_sessions SET last_seen_at = $2 WHERE pk = $1 AND last_seen_at < $2",
        session_pk,
        now,
    )


async def drop_session(conn: RawConnection, session_pk: uuid.UUID) -> None:
    await conn.execute("DELETE FROM user_sessions WHERE pk = $1", session_pk)


_ENVIRONMENTS_SQL = """
SELECT pk, slug, name, require_customer_tokens FROM environments
WHERE account_pk = $1 ORDER BY created_at, pk
"""


async def environments_of(conn: RawConnection, account_pk: uuid.UUID) -> list[EnvironmentRow]:
    rows = await conn.fetch(_ENVIRONMENTS_SQL, account_pk)
    return [
        EnvironmentRow(r["pk"], r["slug"], r["name"], r["require_customer_tokens"]) for r in rows
    ]


async def account_name(conn: RawConnection, account_pk: uuid.UUID) -> str:
    return str(await conn.fetchval("SELECT name FROM accounts WHERE pk = $1", account_pk))


async def set_session_expiry(
    conn: RawConnection, session_pk: uuid.UUID, expires_at: datetime, last_seen_at: datetime
) -> None:
    """For tests and operators: move a session's expiry (a session past it is logged out)."""
    await conn.execute(
        "UPDATE user_sessions SET expires_at = $2, last_seen_at = $3 WHERE pk = $1",
        session_pk,
        expires_at,
        last_seen_at,
    )
