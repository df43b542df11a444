"""Tenancy: accounts, their users, environments and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import timestamp, uuid_pk


class Account(SQLModel, table=True):
    __tablename__ = "accounts"

    pk: uuid.UUID = uuid_pk()
    name: str
    created_at: datetime = timestamp()


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("account_pk", "email"),)

    pk: uuid.UUID = uuid_pk()
    account_pk: uuid.UUID = Field(foreign_key="accounts.pk", index=True)
    email: str
    name: str = ""
    created_at: datetime = timestamp()


class Environment(SQLModel, table=True):
    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("account_pk", "slug"),)

    pk: uuid.UUID = uuid_pk()
    account_pk: uuid.UUID = Field(foreign_key="accounts.pk", index=True)
    slug: str
    name: str
    created_at: datetime = timestamp()


class ApiKey(SQLModel, table=True):
    """Only a SHA-256 of the secret is stored; the secret is shown once, at creation."""

    __tablename__ = "api_keys"

    pk: uuid.UUID = uuid_pk()
    environment_pk: uuid.UUID = Field(foreign_key="environments.pk", index=True)
    kind: str  # "server" | "client"
    name: str = ""
    key_hash: str = Field(unique=True)
    prefix: str
    created_at: datetime = timestamp()
    revoked_at: datetime | None = timestamp(nullable=True)
