"""The audit log and the idempotency keys of provisioning calls (CRM retries)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Identity, Index
from sqlmodel import Field, SQLModel

from app.models.base import jsonb, timestamp


class AuditEntry(SQLModel, table=True):
    """Who (which key) changed what (entity, before → after), by which operation, when.
    Written in the same transaction as the change."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_env_seq", "environment_pk", "seq"),
        Index("ix_audit_env_entity", "environment_pk", "entity_type", "entity_id"),
    )

    seq: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(always=True),
                                                           primary_key=True))
    environment_pk: uuid.UUID = Field(foreign_key="environments.pk")
    occurred_at: datetime = timestamp()
    actor_key_pk: uuid.UUID | None = None
    actor_kind: str | None = None
    # The user of a console session (actor kind `user`).
    actor_user_pk: uuid.UUID | None = Field(default=None, foreign_key="users.pk", nullable=True)
    operation: str
    request_id: str | None = None
    entity_type: str
    entity_id: str
    action: str  # CREATE | UPDATE | DELETE
    before: dict[str, Any] | None = jsonb(nullable=True)
    after: dict[str, Any] | None = jsonb(nullable=True)


class ProvisioningKey(SQLModel, table=True):
    """An idempotency key of provisionCustomer / provisionSubscription (e.g. a CRM
    opportunity id): the first call's result, replayed to retries."""

    __tablename__ = "provisioning_keys"

    environment_pk: uuid.UUID = Field(foreign_key="environments.pk", primary_key=True)
    key: str = Field(primary_key=True)
    operation: str
    request_hash: str
    response: dict[str, Any] | None = jsonb(nullable=True)
    created_at: datetime = timestamp()
