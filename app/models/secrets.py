"""The secret-key check: one token encrypted under the installation's secret key, so a process
started with another key refuses to run (app/secrets_at_rest.py)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import timestamp


class SecretKeyCheck(SQLModel, table=True):
    __tablename__ = "secret_key_check"

    name: str = Field(primary_key=True)
    token: str
    updated_at: datetime = timestamp()
