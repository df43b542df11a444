"""SQL for reading the audit log (entries are written by app.domain.audit)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models.audit import AuditEntry
from app.store.catalog import Page, counted


async def list_entries(session: AsyncSession, env: uuid.UUID, first: int, after: int | None,
                       filters: dict[str, Any], count: bool = True) -> Page[AuditEntry]:
    """Newest first; `after` is the `seq` of the last entry of the previous page."""
    conditions: list[Any] = [col(AuditEntry.environment_pk) == env]
    for name in ("entity_type", "entity_id", "operation", "action", "actor_key_pk",
                 "actor_user_pk"):
        if filters.get(name) is not None:
            conditions.append(getattr(AuditEntry, name) == filters[name])
    since: datetime | None = filters.get("since")
    until: datetime | None = filters.get("until")
    if since is not None:
        conditions.append(col(AuditEntry.occurred_at) >= since)
    if until is not None:
        conditions.append(col(AuditEntry.occurred_at) < until)
    query = select(AuditEntry).where(*conditions)
    if after is not None:
        query = query.where(col(AuditEntry.seq) < after)
    rows = list((await session.execute(
        query.order_by(col(AuditEntry.seq).desc()).limit(first + 1))).scalars())
    total = await counted(
        session, select(func.count()).select_from(AuditEntry).where(*conditions), count)
    return Page(items=rows[:first], has_next=len(rows) > first, total=total)
