"""Tenancy: accounts, environments and API keys (users: app/models/users.py)."""

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


class Environment(SQLModel, table=True):
    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("account_pk", "slug"),)

    pk: uuid.UUID = uuid_pk()
    account_pk: uuid.UUID = Field(foreign_key="accounts.pk", index=True)
    slug: str
    name: str
    created_at: datetime = timestamp()
    # Client keys read a customer only with a customer token (docs/security.md).
    require_customer_tokens: bool = Field(
        default=False, sa_column_kwargs={"server_default": "false"}
    )


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


class CustomerToken(SQLModel, table=True):
    """A customer token minted (`createCustomerToken`): the audit trail of who let a frontend
    read which customer until when. Tokens are verified without it (they are signed)."""

    __tablename__ = "customer_tokens"

    id: str = Field(primary_key=True)  # the token's `jti`
    environment_pk: uuid.UUID = Field(foreign_key="environments.pk", index=True)
    customer_pk: uuid.UUID = Field(foreign_key="customers.pk", index=True)
    expires_at: datetime = timestamp()
    created_at: datetime = timestamp()
