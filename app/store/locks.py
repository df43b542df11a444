"""Advisory locks: serialise work that has no row to lock yet. Each is a transaction lock
(released at commit or rollback), so it can never be left behind by a failed call."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
# Salts keep each kind of lock apart from the others (and from other users of the database).
_CATALOG_SALT = 0x616C6C6F74636174  # "allotcat"
_BOOTSTRAP_KEY = 0x616C6C6F74  # "allot"


async def lock_catalog(session: AsyncSession, environment_pk: uuid.UUID) -> None:
    """One catalog apply at a time per environment: a second waits for the first to commit,
    then sees its result (instead of failing on ids the first one just created)."""
    key = int.from_bytes(environment_pk.bytes[:8], "big", signed=True) ^ _CATALOG_SALT
    await session.execute(_LOCK, {"key": key})


async def lock_bootstrap(session: AsyncSession) -> None:
    """Serialises concurrent first starts (two `allot serve` on one fresh database): the
    second waits for the first transaction, then sees an account and does nothing."""
    await session.execute(_LOCK, {"key": _BOOTSTRAP_KEY})
