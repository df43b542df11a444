"""Users of an account (the console's people), their login sessions and invitations.

Only hashes of secrets are stored: the password's Argon2 hash, and SHA-256 hashes of the
session and invitation tokens (256 random bits each, shown once: in a cookie, in a link)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import timestamp, uuid_pk


class User(SQLModel, table=True):
    """`email` is stored lower-cased, so the unique constraint is case-insensitive."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("account_pk", "email"),)

    pk: uuid.UUID = uuid_pk()
    account_pk: uuid.UUID = Field(foreign_key="accounts.pk", index=True)
    email: str
    name: str = ""
    password_hash: str
    role: str = Field(default="member", sa_column_kwargs={"server_default": "member"})
    disabled_at: datetime | None = timestamp(nullable=True)
    created_at: datetime = timestamp()
    last_login_at: datetime | None = timestamp(nullable=True)
    password_changed_at: datetime | None = timestamp(nullable=True)


class UserSession(SQLModel, table=True):
    """A login: valid until `expires_at` (absolute) and while `last_seen_at` is recent (idle
    expiry, app/settings.py)."""

    __tablename__ = "user_sessions"

    pk: uuid.UUID = uuid_pk()
    token_hash: str = Field(unique=True)
    user_pk: uuid.UUID = Field(foreign_key="users.pk", index=True)
    csrf_token: str
    created_at: datetime = timestamp()
    last_seen_at: datetime = timestamp()
    expires_at: datetime = timestamp()


class UserInvitation(SQLModel, table=True):
    """An invitation to an account: the link's token (hashed), who is invited as what."""

    __tablename__ = "user_invitations"

    pk: uuid.UUID = uuid_pk()
    account_pk: uuid.UUID = Field(foreign_key="accounts.pk", index=True)
    token_hash: str = Field(unique=True)
    email: str
    name: str = ""
    role: str
    invited_by_pk: uuid.UUID | None = Field(default=None, foreign_key="users.pk", nullable=True)
    created_at: datetime = timestamp()
    expires_at: datetime = timestamp()
    accepted_at: datetime | None = timestamp(nullable=True)
