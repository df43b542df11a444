"""Webhooks: endpoints per environment, the outbox of events, one delivery per event x
endpoint, and every attempt of a delivery (the delivery log)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, Text, Uuid, text
from sqlmodel import Field, SQLModel

from app.models.base import jsonb, timestamp, uuid_pk
from app.secrets_at_rest import EncryptedString


class WebhookEndpoint(SQLModel, table=True):
    """A URL that receives an environment's events. `event_types` empty = every type.

    The secrets are stored encrypted (app/secrets_at_rest.py) and read in clear: signing needs
    them. After a rotation the previous secret still signs (a second signature) until
    `previous_secret_expires_at`."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_env_created", "environment_pk", "created_at"),)

    pk: uuid.UUID = uuid_pk()
    environment_pk: uuid.UUID = Field(foreign_key="environments.pk")
    url: str
    description: str | None = None
    event_types: list[str] = jsonb(default=list)
    enabled: bool = True
    secret: str = Field(sa_column=Column(EncryptedString(), nullable=False))
    previous_secret: str | None = Field(
        default=None, sa_column=Column(EncryptedString(), nullable=True)
    )
    previous_secret_expires_at: datetime | None = timestamp(nullable=True)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class WebhookEvent(SQLModel, table=True):
    """The outbox: an event written in the transaction of the change that caused it."""

    __tablename__ = "webhook_events"

    pk: uuid.UUID = uuid_pk()
    environment_pk: uuid.UUID = Field(foreign_key="environments.pk", index=True)
    type: str
    data: dict[str, Any] = jsonb(default=dict)
    occurred_at: datetime = timestamp()


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint. PENDING until an attempt succeeds (SUCCEEDED) or the
    attempts run out (FAILED). `sequence` counts replays; `attempt_count` counts the attempts
    of the current sequence. A worker claims a row by setting `claim_token` and pushing
    `next_attempt_at` past the request's timeout (a lease: a crashed worker's row comes back)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_env_created", "environment_pk", "created_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_pk"),
        Index("ix_webhook_deliveries_event", "event_pk"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'PENDING'"),
        ),
    )

    pk: uuid.UUID = uuid_pk()
    environment_pk: uuid.UUID = Field(foreign_key="environments.pk")
    endpoint_pk: uuid.UUID = Field(
        sa_column=Column(
            Uuid(), ForeignKey("webhook_endpoints.pk", ondelete="CASCADE"), nullable=False
        )
    )
    event_pk: uuid.UUID = Field(foreign_key="webhook_events.pk")
    status: str = "PENDING"
    sequence: int = 0
    attempt_count: int = 0
    next_attempt_at: datetime | None = timestamp(nullable=True)
    claim_token: uuid.UUID | None = None
    last_attempt_at: datetime | None = timestamp(nullable=True)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class WebhookAttempt(SQLModel, table=True):
    """One HTTP request of a delivery: what the receiver answered, or why it failed."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_pk", "sequence", "number"),)

    pk: uuid.UUID = uuid_pk()
    delivery_pk: uuid.UUID = Field(
        sa_column=Column(
            Uuid(), ForeignKey("webhook_deliveries.pk", ondelete="CASCADE"), nullable=False
        )
    )
    sequence: int
    number: int
    attempted_at: datetime = timestamp()
    succeeded: bool
    status_code: int | None = None
    response_body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    duration_ms: int
