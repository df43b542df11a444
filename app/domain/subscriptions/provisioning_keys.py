"""Idempotency of provisioning calls (a CRM retrying a closed deal): the same key yields
exactly one customer and one subscription and answers as the first call did; the same key
with a different payload is IDEMPOTENCY_KEY_REUSED.

The key is inserted first thing in the call's transaction. A concurrent retry blocks on it
until the first call commits (then it replays) or rolls back (then it proceeds itself).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.audit import plain
from app.errors import DomainError, ErrorCode
from app.store import provisioning_keys as store


def request_hash(operation: str, payload: dict[str, Any]) -> str:
    body = {k: v for k, v in payload.items() if k != "idempotencyKey"}
    return hashlib.sha256(orjson.dumps([operation, plain(body)],
                                       option=orjson.OPT_SORT_KEYS)).hexdigest()


async def claim(session: AsyncSession, env: uuid.UUID, key: str, operation: str,
                digest: str, now: datetime) -> dict[str, Any] | None:
    """None: the key is new, go ahead (and `complete` it). Otherwise the first call's
    response, to answer with."""
    if not key or len(key) > 200:
        raise DomainError(ErrorCode.INVALID_INPUT, "an idempotency key is 1 to 200 characters",
                          ["idempotencyKey"])
    if await store.insert_key(session, env, key, operation, digest, now):
        return None
    existing = await store.get_key(session, env, key)
    if existing.operation != operation or existing.request_hash != digest:
        raise DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED,
                          "this idempotency key was used for another request",
                          ["idempotencyKey"])
    return existing.response or {}


async def complete(session: AsyncSession, env: uuid.UUID, key: str,
                   response: dict[str, Any]) -> None:
    await store.set_response(session, env, key, response)
