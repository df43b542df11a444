"""Usage: counters per customer x feature x resource x period, idempotency keys, raw events,
distinct values for UNIQUE_COUNT meters, and threshold crossings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Float, Index, text
from sqlmodel import Field, SQLModel

from app.models.base import jsonb, timestamp


class UsageCounter(SQLModel, table=True):
    """One row per usage period (its start and end: two periods that start together are two
    counters): a new period is a new row, so resets need no job. `resource_key` is '' when
    the usage is not per resource; a counter that never resets ends at 9999-12-31."""

    __tablename__ = "usage_counters"
    __table_args__ = (
        # The insights: the current counter of a feature of every customer, newest period
        # first, read from the index alone (migration 0020).
        Index("ix_usage_counters_feature_current", "environment_pk", "feature_id",
              "customer_pk", text("period_start DESC"),
              postgresql_include=["period_end", "value"],
              postgresql_where=text("resource_key = ''")),
    )

    customer_pk: uuid.UUID = Field(foreign_key="customers.pk", primary_key=True)
    feature_id: str = Field(primary_key=True)
    resource_key: str = Field(default="", primary_key=True)
    period_start: datetime = Field(sa_column=Column(DateTime(timezone=True), primary_key=True))
    period_end: datetime = Field(sa_column=Column(DateTime(timezone=True), primary_key=True))
    environment_pk: uuid.UUID = Field(foreign_key="environments.pk", index=True)
    value: float = Field(default=0.0, sa_column=Column(Float, nullable=False))
    last_event_at: datetime | None = timestamp(nullable=True)
    updated_at: datetime = timestamp()
    # The next value of `usage_counter_versions` on every write of `value` (a trigger,
    # migration 0015): for one counter, greater = newer.
    version: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )


class UsageIdempotencyKey(SQLModel, table=True):
    """A report's key, unique per environment, with the answer the first report got."""

    __tablename__ = "usage_idempotency_keys"
    __table_args__ = (Index("ix_usage_idempotency_created", "created_at"),)

    environment_pk: uuid.UUID = Field(foreign_key="environments.pk", primary_key=True)
    key: str = Field(primary_key=True)
    request_hash: str
    response: dict[str, Any] = jsonb(default=dict)
    created_at: datetime = timestamp()


class UsageEvent(SQLModel, table=True):
    """A raw event, stored durably; its idempotency key is unique per environment."""

    __tablename__ = "usage_events"
    __table_args__ = (
        Index("ix_usage_events_customer", "customer_pk", "event_name", "occurred_at"),
    )

    environment_pk: uuid.UUID = Field(foreign_key="environments.pk", primary_key=True)
    idempotency_key: str = Field(primary_key=True)
    customer_pk: uuid.UUID = Field(foreign_key="customers.pk")
    event_name: str
    resource_id: str | None = None
    occurred_at: datetime = timestamp()
    dimensions: dict[str, Any] = jsonb(default=dict)
    received_at: datetime = timestamp()
    # The payload as sent (app/domain/usage/events.py): the same key with another is refused.
    request_hash: str | None = None


class UsageUniqueValue(SQLModel, table=True):
    """Distinct values seen by a UNIQUE_COUNT meter in a period."""

    __tablename__ = "usage_unique_values"

    customer_pk: uuid.UUID = Field(foreign_key="customers.pk", primary_key=True)
    feature_id: str = Field(primary_key=True)
    resource_key: str = Field(default="", primary_key=True)
    period_start: datetime = Field(sa_column=Column(DateTime(timezone=True), primary_key=True))
    period_end: datetime = Field(sa_column=Column(DateTime(timezone=True), primary_key=True))
    value: str = Field(primary_key=True)


class ThresholdCrossing(SQLModel, table=True):
    """Usage reached `threshold` % of the limit in a period: recorded exactly once (the
    primary key), ready for webhook delivery."""

    __tablename__ = "usage_threshold_crossings"

    customer_pk: uuid.UUID = Field(foreign_key="customers.pk", primary_key=True)
    feature_id: str = Field(primary_key=True)
    resource_key: str = Field(default="", primary_key=True)
    period_start: datetime = Field(sa_column=Column(DateTime(timezone=True), primary_key=True))
    period_end: datetime = Field(sa_column=Column(DateTime(timezone=True), primary_key=True))
    threshold: int = Field(primary_key=True)
    environment_pk: uuid.UUID = Field(foreign_key="environments.pk", index=True)
    usage: float = Field(sa_column=Column(Float, nullable=False))
    usage_limit: float = Field(sa_column=Column(Float, nullable=False))
    crossed_at: datetime = timestamp()
    delivered_at: datetime | None = timestamp(nullable=True)
