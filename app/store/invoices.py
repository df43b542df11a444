"""SQL for billing: settings and the invoice sequence, invoices, invoice schedules, and the
usage of a billing period."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, literal_column, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import BillingSettings, Invoice, InvoiceSchedule, Subscription
from app.store.catalog import counted
from app.store.usage import NO_PERIOD


def new_link_secret() -> str:
    return secrets.token_hex(32)


# --- settings -----------------------------------------------------------------------------------


async def get_settings(
    session: AsyncSession, env: uuid.UUID, *, lock: bool = False
) -> BillingSettings | None:
    query = select(BillingSettings).where(col(BillingSettings.environment_pk) == env)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalars().first()


async def ensure_settings(session: AsyncSession, env: uuid.UUID, now: datetime) -> BillingSettings:
    """The environment's settings row, created with defaults (and a link secret) if missing,
    locked for the rest of the transaction. Written through the unit of work, so the audit
    log records the creation."""
    found = await get_settings(session, env, lock=True)
    if found is None:
        try:
            async with session.begin_nested():
                session.add(BillingSettings(environment_pk=env, bank_details={},
                                            link_secret=new_link_secret(), updated_at=now))
        except IntegrityError:
            pass  # a concurrent transaction created it meanwhile: use theirs
        found = await get_settings(session, env, lock=True)
        assert found is not None
    await session.refresh(found)
    return found


async def next_invoice_number(session: AsyncSession, env: uuid.UUID, now: datetime) -> int:
    """Take the next number of the environment's invoice sequence. The settings row stays
    locked until the transaction ends, which serialises issuers: numbers have no gaps from
    concurrent issuers and never repeat. The audit log records the sequence's step."""
    settings = await ensure_settings(session, env, now)
    number = settings.next_invoice_number
    settings.next_invoice_number = number + 1
    session.add(settings)
    await session.flush()
    return number


async def link_secrets(session: AsyncSession, envs: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    query = select(col(BillingSettings.environment_pk), col(BillingSettings.link_secret)).where(
        col(BillingSettings.environment_pk).in_(list(envs))
    )
    return {row[0]: row[1] for row in (await session.execute(query)).all()}


# --- invoices -----------------------------------------------------------------------------------


async def get_invoice(
    session: AsyncSession, env: uuid.UUID, invoice_id: str, *, lock: bool = False
) -> Invoice | None:
    query = select(Invoice).where(col(Invoice.environment_pk) == env, col(Invoice.id) == invoice_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalars().first()


async def invoice_by_pk(session: AsyncSession, pk: uuid.UUID) -> Invoice | None:
    return await session.get(Invoice, pk)


async def invoice_at(
    session: AsyncSession, subscription_pk: uuid.UUID, period_start: datetime
) -> Invoice | None:
    """The period invoice issued at an issue point."""
    query = select(Invoice).where(
        col(Invoice.subscription_pk) == subscription_pk,
        col(Invoice.period_start) == period_start,
        col(Invoice.kind) == "PERIOD",
    )
    return (await session.execute(query)).scalars().first()


@dataclass
class InvoicePage:
    items: list[Invoice]
    has_next: bool
    total: int | None  # None: not counted


def cursor_of(invoice: Invoice) -> str:
    return f"{invoice.issued_at.isoformat()}|{invoice.id}"


async def list_invoices(
    session: AsyncSession,
    env: uuid.UUID,
    first: int,
    after: str | None,
    *,
    customer_pk: uuid.UUID | None = None,
    subscription_pk: uuid.UUID | None = None,
    status: str | None = None,
    count: bool = True,
) -> InvoicePage:
    """Newest first (issue time, then id); `after` is a cursor from `cursor_of`."""
    filters: list[Any] = [col(Invoice.environment_pk) == env]
    if customer_pk is not None:
        filters.append(col(Invoice.customer_pk) == customer_pk)
    if subscription_pk is not None:
        filters.append(col(Invoice.subscription_pk) == subscription_pk)
    if status is not None:
        filters.append(col(Invoice.status) == status)
    query = select(Invoice).where(*filters)
    if after is not None:
        issued, _, invoice_id = after.partition("|")
        query = query.where(
            tuple_(col(Invoice.issued_at), col(Invoice.id))
            < (datetime.fromisoformat(issued), invoice_id)
        )
    query = query.order_by(col(Invoice.issued_at).desc(), col(Invoice.id).desc())
    rows = list((await session.execute(query.limit(first + 1))).scalars())
    total = await counted(session, select(func.count()).select_from(Invoice).where(*filters), count)
    return InvoicePage(rows[:first], len(rows) > first, total)


async def invoices_of_subscriptions(
    session: AsyncSession, env: uuid.UUID, subscription_ids: Sequence[str]
) -> dict[str, list[Invoice]]:
    query = (
        select(col(Subscription.id), Invoice)
        .join(Subscription, col(Subscription.pk) == col(Invoice.subscription_pk))
        .where(
            col(Invoice.environment_pk) == env,
            col(Subscription.id).in_(list(subscription_ids)),
        )
        .order_by(col(Invoice.issued_at).desc(), col(Invoice.id).desc())
    )
    found: dict[str, list[Invoice]] = {i: [] for i in subscription_ids}
    for subscription_id, invoice in (await session.execute(query)).all():
        found[subscription_id].append(invoice)
    return found


async def invoices_of_customers(
    session: AsyncSession, customer_pks: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Invoice]]:
    query = (
        select(Invoice)
        .where(col(Invoice.customer_pk).in_(list(customer_pks)))
        .order_by(col(Invoice.issued_at).desc(), col(Invoice.id).desc())
    )
    found: dict[uuid.UUID, list[Invoice]] = {pk: [] for pk in customer_pks}
    for invoice in (await session.execute(query)).scalars():
        found[invoice.customer_pk].append(invoice)
    return found


async def overdue_invoices(session: AsyncSession, now: datetime, limit: int = 200) -> list[Invoice]:
    """Open invoices whose due date has come that the job has not handled yet; claimed with
    SKIP LOCKED so several workers never handle one twice."""
    query = (
        select(Invoice)
        .where(
            col(Invoice.status) == "OPEN",
            col(Invoice.total) > 0,  # a credit note is owed to the customer
            col(Invoice.due_date) <= now,
            col(Invoice.overdue_at).is_(None),
        )
        .order_by(col(Invoice.due_date))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(query)).scalars())


# --- schedules ----------------------------------------------------------------------------------


async def lock_schedule(
    session: AsyncSession, subscription: Subscription, now: datetime
) -> InvoiceSchedule:
    await session.execute(
        insert(InvoiceSchedule)
        .values(
            subscription_pk=subscription.pk,
            environment_pk=subscription.environment_pk,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[col(InvoiceSchedule.subscription_pk)])
    )
    query = (
        select(InvoiceSchedule)
        .where(col(InvoiceSchedule.subscription_pk) == subscription.pk)
        .with_for_update()
    )
    schedule = (await session.execute(query)).scalars().one()
    await session.refresh(schedule)
    return schedule


async def subscriptions_to_invoice(
    session: AsyncSession, now: datetime, limit: int = 50
) -> list[Subscription]:
    """Subscriptions billed by invoice with an issue point due: never handled yet (and paid
    periods have begun), their next boundary reached, or an end reached that their schedule
    has not closed. No row locks here: the caller takes the customer's lock, then the
    schedule's, and checks again."""
    anchor = func.coalesce(col(Subscription.trial_end_date), col(Subscription.start_date))
    query = (
        select(Subscription)
        .outerjoin(InvoiceSchedule, col(InvoiceSchedule.subscription_pk) == col(Subscription.pk))
        .where(
            # A literal, not a parameter: it must match ix_subscriptions_invoiced's predicate
            # even in a generic plan.
            col(Subscription.billing_mode) == literal_column("'INVOICE'"),
            anchor <= now,
            or_(
                and_(
                    col(InvoiceSchedule.subscription_pk).is_(None),
                    or_(col(Subscription.end_date).is_(None), col(Subscription.end_date) > anchor),
                ),
                col(InvoiceSchedule.next_due_at) <= now,
                and_(
                    col(Subscription.end_date) <= now,
                    col(Subscription.end_date) > anchor,
                    or_(
                        col(InvoiceSchedule.invoiced_until).is_(None),
                        col(InvoiceSchedule.invoiced_until) < col(Subscription.end_date),
                    ),
                ),
            ),
        )
        # Least recently handled first: one that keeps failing never starves the others.
        .order_by(func.coalesce(col(InvoiceSchedule.updated_at), anchor), anchor)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


# --- usage of a billing period ------------------------------------------------------------------

_USAGE_SQL = text(
    """
SELECT feature_id,
       sum(value) FILTER (WHERE period_start >= :start AND period_start < :end) AS in_period,
       count(*) FILTER (WHERE period_start >= :start AND period_start < :end) AS periods,
       max(value) FILTER (WHERE period_start = :never) AS lifetime
FROM usage_counters
WHERE customer_pk = :customer AND resource_key = :resource AND feature_id = ANY(:features)
GROUP BY feature_id
"""
)


async def period_usage(
    session: AsyncSession,
    customer_pk: uuid.UUID,
    resource_key: str,
    features: Sequence[str],
    start: datetime,
    end: datetime,
) -> dict[str, Decimal]:
    """Usage of each feature in a billing period: the sum of its usage periods that start in
    it; for a feature that never resets, its counter's value now."""
    if not features:
        return {}
    rows = await session.execute(
        _USAGE_SQL,
        {
            "start": start,
            "end": end,
            "never": NO_PERIOD,
            "customer": customer_pk,
            "resource": resource_key,
            "features": list(features),
        },
    )
    usage: dict[str, Decimal] = {}
    for feature_id, in_period, periods, lifetime in rows.all():
        value = in_period if periods else lifetime
        usage[feature_id] = Decimal(repr(float(value or 0.0)))
    return usage


async def subscriptions_by_pks(
    session: AsyncSession, pks: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Subscription]:
    query = select(Subscription).where(col(Subscription.pk).in_(list(pks)))
    return {s.pk: s for s in (await session.execute(query)).scalars()}
