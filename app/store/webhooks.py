"""Webhook reads and writes: endpoints, the delivery log, and the worker's claim and record."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from app.secrets_at_rest import EncryptedString
from app.store.catalog import Page, counted

# --- endpoints ----------------------------------------------------------------------------


async def get_endpoint(
    session: AsyncSession, env: uuid.UUID, pk: uuid.UUID, *, lock: bool = False
) -> WebhookEndpoint | None:
    model: Any = WebhookEndpoint
    query = select(model).where(model.environment_pk == env, model.pk == pk)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalars().first()


def split_cursor(after: str | None) -> tuple[datetime, uuid.UUID] | None:
    """A cursor is "<created_at ISO>|<pk>"; a malformed one reads as the start."""
    if after is None:
        return None
    stamp, _, pk = after.partition("|")
    try:
        return datetime.fromisoformat(stamp), uuid.UUID(pk)
    except ValueError:
        return None


def cursor_of(row: Any) -> str:
    return f"{row.created_at.isoformat()}|{row.pk}"


async def list_endpoints(
    session: AsyncSession, env: uuid.UUID, first: int, after: str | None, *, count: bool = True
) -> Page[WebhookEndpoint]:
    """Oldest first."""
    model: Any = WebhookEndpoint
    filters = [model.environment_pk == env]
    query = select(model).where(*filters)
    position = split_cursor(after)
    if position is not None:
        query = query.where(
            or_(
                model.created_at > position[0],
                and_(model.created_at == position[0], model.pk > position[1]),
            )
        )
    query = query.order_by(model.created_at, model.pk).limit(first + 1)
    rows = list((await session.execute(query)).scalars())
    total = await counted(session, select(func.count()).select_from(model).where(*filters), count)
    return Page(items=rows[:first], has_next=len(rows) > first, total=total)


async def delete_endpoint(session: AsyncSession, pk: uuid.UUID) -> None:
    """Deliveries and attempts go with it (ON DELETE CASCADE); events stay."""
    # Through the unit of work, so the audit log records the deletion.
    endpoint = await session.get(WebhookEndpoint, pk)
    if endpoint is not None:
        await session.delete(endpoint)
        await session.flush()


# --- the delivery log ---------------------------------------------------------------------


@dataclass
class DeliveryRow:
    """A delivery with its event (what the log shows)."""

    delivery: WebhookDelivery
    event: WebhookEvent

    @property
    def created_at(self) -> datetime:
        return self.delivery.created_at

    @property
    def pk(self) -> uuid.UUID:
        return self.delivery.pk


async def get_delivery(
    session: AsyncSession, env: uuid.UUID, pk: uuid.UUID, *, lock: bool = False
) -> WebhookDelivery | None:
    model: Any = WebhookDelivery
    query = select(model).where(model.environment_pk == env, model.pk == pk)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalars().first()


async def deliveries_by_pks(
    session: AsyncSession, env: uuid.UUID, pks: Sequence[uuid.UUID]
) -> list[DeliveryRow]:
    d: Any = WebhookDelivery
    e: Any = WebhookEvent
    query = (
        select(d, e).join(e, e.pk == d.event_pk).where(d.environment_pk == env, d.pk.in_(list(pks)))
    )
    return [DeliveryRow(row[0], row[1]) for row in (await session.execute(query)).all()]


async def list_deliveries(
    session: AsyncSession,
    env: uuid.UUID,
    first: int,
    after: str | None,
    endpoint_pk: uuid.UUID | None = None,
    status: str | None = None,
    event_type: str | None = None,
    *,
    count: bool = True,
) -> Page[DeliveryRow]:
    """Newest first, optionally of one endpoint, in one status, of one event type."""
    d: Any = WebhookDelivery
    e: Any = WebhookEvent
    filters: list[Any] = [d.environment_pk == env]
    if endpoint_pk is not None:
        filters.append(d.endpoint_pk == endpoint_pk)
    if status is not None:
        filters.append(d.status == status)
    if event_type is not None:
        filters.append(e.type == event_type)
    query = select(d, e).join(e, e.pk == d.event_pk).where(*filters)
    position = split_cursor(after)
    if position is not None:
        query = query.where(
            or_(
                d.created_at < position[0],
                and_(d.created_at == position[0], d.pk < position[1]),
            )
        )
    query = query.order_by(d.created_at.desc(), d.pk.desc()).limit(first + 1)
    rows = [DeliveryRow(r[0], r[1]) for r in (await session.execute(query)).all()]
    counting = select(func.count()).select_from(d).join(e, e.pk == d.event_pk).where(*filters)
    total = await counted(session, counting, count)
    return Page(items=rows[:first], has_next=len(rows) > first, total=total)


async def attempts_of(
    session: AsyncSession, delivery_pks: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[WebhookAttempt]]:
    """Every attempt of the deliveries, oldest first, in one query."""
    a: Any = WebhookAttempt
    query = (
        select(a)
        .where(a.delivery_pk.in_(list(delivery_pks)))
        .order_by(a.sequence, a.number, a.attempted_at)
    )
    found: dict[uuid.UUID, list[WebhookAttempt]] = {pk: [] for pk in delivery_pks}
    for attempt in (await session.execute(query)).scalars():
        found[attempt.delivery_pk].append(attempt)
    return found


# --- the worker ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker holds (until `lease_until`), with what it needs to send it."""

    pk: uuid.UUID
    token: uuid.UUID
    sequence: int
    attempt_count: int
    url: str
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    event_pk: uuid.UUID
    event_type: str
    data: dict[str, Any]
    occurred_at: datetime


_CLAIM = text(
    """
    WITH claimed AS (
        UPDATE webhook_deliveries AS d
        SET claim_token = CAST(:token AS uuid), next_attempt_at = :lease_until,
            updated_at = :now
        WHERE d.pk IN (
            SELECT d2.pk FROM webhook_deliveries AS d2
            JOIN webhook_endpoints AS e2 ON e2.pk = d2.endpoint_pk
            WHERE d2.status = 'PENDING' AND d2.next_attempt_at <= :now AND e2.enabled
              AND (CAST(:env AS uuid) IS NULL OR d2.environment_pk = CAST(:env AS uuid))
            ORDER BY d2.next_attempt_at
            LIMIT :limit
            FOR UPDATE OF d2 SKIP LOCKED
        )
        RETURNING d.pk, d.sequence, d.attempt_count, d.endpoint_pk, d.event_pk
    )
    SELECT c.pk, c.sequence, c.attempt_count, e.url, e.secret, e.previous_secret,
           e.previous_secret_expires_at, ev.pk AS event_pk, ev.type, ev.data, ev.occurred_at
    FROM claimed AS c
    JOIN webhook_endpoints AS e ON e.pk = c.endpoint_pk
    JOIN webhook_events AS ev ON ev.pk = c.event_pk
    """
).columns(secret=EncryptedString(), previous_secret=EncryptedString())  # decrypted as read


async def claim_due(
    session: AsyncSession,
    now: datetime,
    lease_until: datetime,
    limit: int,
    token: uuid.UUID,
    env: uuid.UUID | None = None,
) -> list[Claimed]:
    """Claim up to `limit` due deliveries of enabled endpoints (SKIP LOCKED: several workers
    never take the same row). A claim is a lease: until `lease_until` nobody else takes it; a
    worker that dies mid-request leaves the row to be taken again after that."""
    params = {"token": token, "lease_until": lease_until, "now": now, "limit": limit, "env": env}
    result = await session.execute(_CLAIM, params)
    return [
        Claimed(
            pk=r.pk,
            token=token,
            sequence=r.sequence,
            attempt_count=r.attempt_count,
            url=r.url,
            secret=r.secret,
            previous_secret=r.previous_secret,
            previous_secret_expires_at=r.previous_secret_expires_at,
            event_pk=r.event_pk,
            event_type=r.type,
            data=r.data,
            occurred_at=r.occurred_at,
        )
        for r in result
    ]


async def record_attempt(
    session: AsyncSession,
    claimed: Claimed,
    attempt: WebhookAttempt,
    status: str,
    next_attempt_at: datetime | None,
) -> bool:
    """Write an attempt and the delivery's new state, if the claim still holds (the delivery
    was not replayed, re-claimed after the lease or deleted meanwhile)."""
    d: Any = WebhookDelivery
    moved = await session.execute(
        update(d)
        .where(d.pk == claimed.pk, d.claim_token == claimed.token)
        .values(
            status=status,
            attempt_count=attempt.number,
            next_attempt_at=next_attempt_at,
            last_attempt_at=attempt.attempted_at,
            claim_token=None,
            updated_at=attempt.attempted_at,
        )
        .returning(d.pk)
    )
    if moved.first() is None:
        return False
    session.add(attempt)
    await session.flush()
    return True


# --- the outbox ---------------------------------------------------------------------------

# The event and one delivery per matching enabled endpoint, in one statement; an event no
# endpoint wants is not stored.
_EMIT = text(
    """
    WITH targets AS (
        SELECT pk FROM webhook_endpoints
        WHERE environment_pk = CAST(:env AS uuid)
          AND enabled
          AND (event_types = '[]'::jsonb
               OR event_types @> jsonb_build_array(CAST(:type AS text)))
    ), event AS (
        INSERT INTO webhook_events (pk, environment_pk, type, data, occurred_at)
        SELECT CAST(:event_pk AS uuid), CAST(:env AS uuid), CAST(:type AS text),
               CAST(:data AS jsonb), CAST(:now AS timestamptz)
        WHERE EXISTS (SELECT 1 FROM targets)
        RETURNING pk
    )
    INSERT INTO webhook_deliveries (pk, environment_pk, endpoint_pk, event_pk, status,
        sequence, attempt_count, next_attempt_at, created_at, updated_at)
    SELECT gen_random_uuid(), CAST(:env AS uuid), targets.pk, event.pk, 'PENDING', 0, 0,
           CAST(:now AS timestamptz), CAST(:now AS timestamptz), CAST(:now AS timestamptz)
    FROM targets CROSS JOIN event
    """
).bindparams(bindparam("data", type_=JSONB))


async def insert_event(session: AsyncSession, env: uuid.UUID, event_type: str,
                       event_pk: uuid.UUID, data: dict[str, Any], now: datetime) -> None:
    """Store the event and its deliveries in the session's transaction
    (app.domain.outbound.outbox)."""
    await session.execute(
        _EMIT, {"env": env, "type": event_type, "event_pk": event_pk, "data": data, "now": now}
    )
