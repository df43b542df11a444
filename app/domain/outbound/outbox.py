"""The webhook outbox: `emit` writes an event in the caller's transaction.

The event and one delivery per matching enabled endpoint are inserted by one statement, in
the transaction of the change that caused the event: if that transaction rolls back, nothing
was emitted and nothing is sent. The worker (`app.workers.webhooks`) delivers after commit.
Endpoints are matched when the event is emitted: an endpoint created later does not receive
earlier events. An event no endpoint wants is not stored.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from app.store import webhooks as store

# Every event type, with what it means. Receivers switch on these strings: they are stable.
EVENT_TYPES: dict[str, str] = {
    "subscription.created": "A subscription was created (provisioned).",
    "subscription.updated": "A subscription changed: plan, add-ons, values, prices, dates.",
    "subscription.canceled": "A subscription was canceled (now, or scheduled to end).",
    "trial.started": "A subscription started a trial.",
    "trial.ending_soon": "A trial ends in a few days.",
    "trial.converted": "A trial ended and the subscription became paid.",
    "trial.expired": "A trial ended without converting.",
    "usage.threshold_crossed": "Usage reached a threshold (e.g. 80 % or 100 %) of a limit.",
    "invoice.created": "An invoice was issued.",
    "invoice.paid": "An invoice was marked paid.",
    "invoice.overdue": "An invoice is unpaid past its due date.",
    "invoice.voided": "An invoice was voided: nothing is owed.",
    "entitlements.changed": "A customer's effective entitlements changed.",
}

def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # money stays exact: a string such as "49.00"
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def to_json_data(data: dict[str, Any]) -> dict[str, Any]:
    """The event's data as plain JSON values: datetimes ISO-8601 in UTC ("…Z"), decimals as
    strings, UUIDs and enums as strings."""
    dumped = orjson.dumps(data, default=_default, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS)
    loaded: dict[str, Any] = orjson.loads(dumped)
    return loaded


async def emit(
    session: AsyncSession,
    env: uuid.UUID,
    event_type: str,
    data: dict[str, Any],
    now: datetime,
) -> None:
    """Record `event_type` with `data` for environment `env`, in the session's transaction.

    Raises ValueError for an unknown event type or a naive `now` (programming errors)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    if now.tzinfo is None:
        raise ValueError("emit needs an aware datetime")
    await store.insert_event(session, env, event_type, uuid.uuid4(), to_json_data(data), now)
