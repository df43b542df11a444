"""Users of an account, their passwords, login sessions and invitations: the rules.

Passwords are hashed with Argon2id (argon2-cffi's defaults, rehashed on login when those
change). Session and invitation tokens are 256 random bits; only their SHA-256 is stored (as
API keys: with that much entropy a plain hash is enough). docs/console.md, "Users, sessions and
security", states what users see of these rules.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import UserRole
from app.db import RawConnection
from app.domain import audit
from app.errors import DomainError, ErrorCode
from app.models import User, UserInvitation
from app.store import users as store

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # Argon2 takes any length; a bound keeps a login cheap to refuse
MAX_EMAIL = 254
MAX_NAME = 200
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when no user has the email, so a login takes as long either way."""
    return _hasher.hash(secrets.token_urlsafe(16))


# Argon2 takes ~0.1 s of CPU by design; argon2-cffi releases the GIL, so a worker thread keeps
# the event loop (every other request) free meanwhile.
async def _hash_off_loop(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def _verify_off_loop(password_hash: str, password: str) -> bool:
    return await asyncio.to_thread(_verify, password_hash, password)


def generate_password() -> str:
    """A one-time password for a new user (printed once): 128 random bits."""
    return secrets.token_urlsafe(16)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(raw: str, field: str = "email") -> str:
    """The email as stored: trimmed and lower-cased (unique per account, case-insensitively)."""
    email = raw.strip().lower()
    if not email or len(email) > MAX_EMAIL or not _EMAIL.match(email):
        raise DomainError(ErrorCode.INVALID_INPUT, "not an email address", [field])
    return email


def check_name(raw: str, field: str = "name") -> str:
    name = raw.strip()
    if len(name) > MAX_NAME:
        raise DomainError(ErrorCode.INVALID_INPUT, f"at most {MAX_NAME} characters", [field])
    return name


def check_password(password: str, field: str = "password") -> str:
    if len(password) < MIN_PASSWORD:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"a password has at least {MIN_PASSWORD} characters", [field]
        )
    if len(password) > MAX_PASSWORD:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"a password has at most {MAX_PASSWORD} characters", [field]
        )
    return password


async def create_user(
    session: AsyncSession,
    account_pk: uuid.UUID,
    email: str,
    name: str,
    role: UserRole,
    password: str,
    now: datetime,
) -> User:
    """A new user of the account (in the caller's audited unit of work); the email must be
    free in the account."""
    email = normalize_email(email)
    name = check_name(name)
    check_password(password)
    await _lock(session, account_pk)
    if await store.find_user_by_email(session, account_pk, email) is not None:
        raise DomainError(
            ErrorCode.DUPLICATE_ID, f"a user with the email {email!r} exists", ["email"]
        )
    user = User(
        account_pk=account_pk,
        email=email,
        name=name,
        role=role.value,
        password_hash=await _hash_off_loop(password),
        created_at=now,
    )
    return await store.add_user(session, user)


async def _lock(session: AsyncSession, account_pk: uuid.UUID) -> None:
    """Lock the account for user changes, and name the environment whose audit log records
    them when the actor names none (the CLI): the account's first."""
    await store.lock_account(session, account_pk)
    environment = await store.first_environment(session, account_pk)
    if environment is not None:
        audit.log_account_changes_in(session, environment.pk)


def _not_found() -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, "no user with that id in this account", ["id"])


async def _locked_user(session: AsyncSession, account_pk: uuid.UUID, user_pk: uuid.UUID) -> User:
    """The account locked for user changes (see `_lock`) and its user `user_pk`, locked too;
    NOT_FOUND when the account has no such user."""
    await _lock(session, account_pk)
    user = await store.get_user(session, account_pk, user_pk, lock=True)
    if user is None:
        raise _not_found()
    return user


async def _last_admin_check(session: AsyncSession, user: User) -> None:
    if user.role == UserRole.ADMIN.value and user.disabled_at is None:
        if await store.count_active_admins(session, user.account_pk) <= 1:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "the account's last active admin cannot be disabled or made a member",
                ["id"],
            )


async def disable_user(
    session: AsyncSession, account_pk: uuid.UUID, user_pk: uuid.UUID, now: datetime
) -> User:
    """Disable a user (idempotent) and end their sessions at once."""
    user = await _locked_user(session, account_pk, user_pk)
    if user.disabled_at is None:
        await _last_admin_check(session, user)
        user.disabled_at = now
        await store.save_user(session, user)
    await store.end_sessions_of(session, user.pk)
    return user


async def change_role(
    session: AsyncSession, account_pk: uuid.UUID, user_pk: uuid.UUID, role: UserRole
) -> User:
    user = await _locked_user(session, account_pk, user_pk)
    if user.role != role.value:
        if role is UserRole.MEMBER:
            await _last_admin_check(session, user)
        user.role = role.value
        await store.save_user(session, user)
    return user


async def set_password(
    session: AsyncSession,
    account_pk: uuid.UUID,
    user_pk: uuid.UUID,
    password: str,
    now: datetime,
    keep_session: uuid.UUID | None = None,
    current_password: str | None = None,
) -> User:
    """A user's new password (`current_password`: the old one must match, for a user changing
    their own). Every session of the user ends, but `keep_session` (the one asking)."""
    check_password(password, "newPassword" if current_password is not None else "password")
    user = await _locked_user(session, account_pk, user_pk)
    if current_password is not None and not await _verify_off_loop(
        user.password_hash, current_password
    ):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "the current password is not right", ["currentPassword"]
        )
    user.password_hash = await _hash_off_loop(password)
    user.password_changed_at = now
    await store.save_user(session, user)
    await store.end_sessions_of(session, user.pk, keep=keep_session)
    return user


@dataclass(frozen=True)
class NewInvitation:
    invitation: UserInvitation
    token: str  # in clear only here: the link is shown once


async def invite_user(
    session: AsyncSession,
    account_pk: uuid.UUID,
    email: str,
    name: str,
    role: UserRole,
    invited_by: uuid.UUID | None,
    now: datetime,
    valid_for: timedelta,
) -> NewInvitation:
    email = normalize_email(email)
    name = check_name(name)
    await _lock(session, account_pk)
    if await store.find_user_by_email(session, account_pk, email) is not None:
        raise DomainError(
            ErrorCode.DUPLICATE_ID, f"a user with the email {email!r} exists", ["email"]
        )
    token = new_token()
    invitation = UserInvitation(
        account_pk=account_pk,
        token_hash=hash_token(token),
        email=email,
        name=name,
        role=role.value,
        invited_by_pk=invited_by,
        created_at=now,
        expires_at=now + valid_for,
    )
    await store.add_invitation(session, invitation)
    return NewInvitation(invitation, token)


async def open_invitation(
    session: AsyncSession, token: str, now: datetime, *, lock: bool = False
) -> UserInvitation | None:
    """The invitation of a link, if it can still be accepted (else None: unknown, used or
    expired all look the same)."""
    if not token or len(token) > 200:
        return None
    invitation = await store.invitation_for_token(session, hash_token(token), lock=lock)
    if invitation is None or invitation.accepted_at is not None or invitation.expires_at <= now:
        return None
    return invitation


async def accept_invitation(
    session: AsyncSession, token: str, name: str, password: str, now: datetime
) -> User:
    """The invited user, created with their name and password; the link is used up."""
    invitation = await open_invitation(session, token, now, lock=True)
    if invitation is None:
        raise DomainError(
            ErrorCode.NOT_FOUND, "this invitation link is unknown, used or expired", ["token"]
        )
    user = await create_user(
        session,
        invitation.account_pk,
        invitation.email,
        name or invitation.name,
        UserRole(invitation.role),
        password,
        now,
    )
    invitation.accepted_at = now
    await store.save_invitation(session, invitation)
    return user


# --- logging in ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewSession:
    token: str  # the cookie's value: in clear only here
    csrf_token: str
    user_pk: uuid.UUID
    expires_at: datetime


async def log_in(
    conn: RawConnection, email: str, password: str, now: datetime, lifetime: timedelta
) -> NewSession | None:
    """A session for the user with this email and password, or None for any failure (no such
    user, wrong password, disabled user: the caller says the same for all). With the same
    email in several accounts, the oldest active user whose password matches."""
    try:
        email = normalize_email(email)
    except DomainError:
        email = ""
    if len(password) > MAX_PASSWORD:
        return None
    candidates = await store.login_candidates(conn, email) if email else []
    if not candidates:
        await _verify_off_loop(await asyncio.to_thread(_dummy_hash), password)
        return None
    for user_pk, password_hash, disabled in candidates:
        if not await _verify_off_loop(password_hash, password) or disabled:
            continue
        rehashed = (
            await _hash_off_loop(password) if _hasher.check_needs_rehash(password_hash) else None
        )
        return await start_session(conn, user_pk, now, lifetime, rehashed)
    return None


async def start_session(
    conn: RawConnection,
    user_pk: uuid.UUID,
    now: datetime,
    lifetime: timedelta,
    rehashed: str | None = None,
) -> NewSession:
    """A new session for a user whose password was just checked (a login) or just set (an
    accepted invitation); `rehashed`: the password's new hash, when its parameters aged."""
    token, csrf = new_token(), new_token()
    expires_at = now + lifetime
    await store.start_session(conn, user_pk, hash_token(token), csrf, now, expires_at, rehashed)
    return NewSession(token, csrf, user_pk, expires_at)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def session_is_live(
    last_seen_at: datetime,
    expires_at: datetime,
    now: datetime,
    idle: timedelta,
) -> bool:
    """A session counts while before its absolute expiry and seen within the idle time."""
    return now < expires_at and now - last_seen_at < idle
