"""SQL for the idempotency keys of provisioning calls
(app.domain.subscriptions.provisioning_keys)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models.audit import ProvisioningKey


async def insert_key(
    session: AsyncSession, env: uuid.UUID, key: str, operation: str, digest: str, now: datetime
) -> bool:
    """Store the key; False when it exists already. A concurrent call inserting the same key
    waits here until the first one commits (then False) or rolls back (then True)."""
    inserted = await session.execute(
        insert(ProvisioningKey)
        .values(
            environment_pk=env, key=key, operation=operation, request_hash=digest, created_at=now
        )
        .on_conflict_do_nothing()
        .returning(col(ProvisioningKey.key))
    )
    return inserted.first() is not None


async def get_key(session: AsyncSession, env: uuid.UUID, key: str) -> ProvisioningKey:
    """A key known to exist (`insert_key` answered False in this transaction)."""
    return (
        (
            await session.execute(
                select(ProvisioningKey).where(
                    col(ProvisioningKey.environment_pk) == env, col(ProvisioningKey.key) == key
                )
            )
        )
        .scalars()
        .one()
    )


async def set_response(
    session: AsyncSession, env: uuid.UUID, key: str, response: dict[str, Any]
) -> None:
    await session.execute(
        update(ProvisioningKey)
        .where(col(ProvisioningKey.environment_pk) == env, col(ProvisioningKey.key) == key)
        .values(response=response)
    )
