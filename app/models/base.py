"""Column helpers shared by every table: UUID keys and timezone-aware timestamps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field


def utcnow() -> datetime:
    return datetime.now(UTC)


def uuid_pk() -> Any:
    return Field(default_factory=uuid.uuid4, primary_key=True)


def timestamp(nullable: bool = False, index: bool = False) -> Any:
    default = None if nullable else utcnow
    return Field(
        default_factory=default,
        sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index),
    )


def jsonb(nullable: bool = False, default: Any = None) -> Any:
    # none_as_null: Python None is SQL NULL (not the JSON value null), so `IS NULL` works.
    column_type = JSONB(none_as_null=True)
    if default is None:
        return Field(default=None, sa_column=Column(column_type, nullable=nullable))
    return Field(default_factory=default, sa_column=Column(column_type, nullable=nullable))
