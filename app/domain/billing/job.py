"""The billing job: cancels the subscriptions of overdue invoices, then issues every due
invoice (the rules are in app/domain/billing/invoices.py). Apart from the invoices
themselves because
it cancels subscriptions (app.domain.subscriptions.changes), and subscription changes issue
invoices: in invoices.py it would close an import circle.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.billing import invoices
from app.domain.billing.terms import feature_names
from app.domain.checks.customer_entitlements import CatalogView, load_catalog_view
from app.domain.subscriptions.changes import cancel_subscription
from app.domain.subscriptions.dates import ENDED, Dates, status_at
from app.errors import DomainError
from app.store import customers as customer_store
from app.store import invoices as store
from app.store import units

log = logging.getLogger("allot.invoices")


async def cancel_overdue(session: AsyncSession, now: datetime) -> int:
    """Cancel, now, the subscription of every open invoice past its due date (once per
    invoice: `overdue_at` records it was handled)."""
    handled = 0
    for invoice in await store.overdue_invoices(session, now):
        # The customer's lock first, like every mutation; a busy customer waits for the next
        # pass (the job never waits on, or deadlocks with, a mutation).
        if await customer_store.try_lock_customer(session, invoice.customer_pk) is None:
            continue
        invoice.overdue_at, invoice.updated_at = now, now
        await units.add(session, invoice)
        await invoices.announce(session, "invoice.overdue", invoice, now)
        sub = await customer_store.subscription_by_pk(session, invoice.subscription_pk)
        if sub is not None and status_at(Dates.of(sub), now) not in ENDED:
            await cancel_subscription(
                session, sub.environment_pk, {"subscriptionId": sub.id, "at": "IMMEDIATE"}, now
            )
            log.info("invoice %s overdue: subscription %s canceled", invoice.id, sub.id)
        handled += 1
    return handled


async def issue_all_due(session: AsyncSession, now: datetime) -> int:
    """Issue every due invoice of every subscription billed by invoice; returns how many
    subscriptions moved. A subscription whose terms cannot be priced is logged and retried
    an hour later; it never stops the others."""
    moved = 0
    views: dict[uuid.UUID, tuple[CatalogView, dict[str, str]]] = {}
    for sub in await store.subscriptions_to_invoice(session, now):
        if await customer_store.try_lock_customer(session, sub.customer_pk) is None:
            continue  # a mutation holds it: next pass (never wait while holding others)
        await customer_store.reload(session, sub)
        env = sub.environment_pk
        if env not in views:
            views[env] = (await load_catalog_view(session, env), await feature_names(session, env))
        view, names = views[env]
        schedule = await store.lock_schedule(session, sub, now)
        before = schedule.invoiced_until
        try:
            async with units.savepoint(session):
                await invoices.issue_due(session, sub, now, view, names)
        except DomainError as error:
            log.warning("subscription %s cannot be invoiced: %s", sub.id, error.message)
            schedule = await store.lock_schedule(session, sub, now)
            schedule.next_due_at = now + timedelta(hours=1)
            schedule.updated_at = now
            await units.add(session, schedule)
            continue
        moved += schedule.invoiced_until != before
    return moved


async def run_billing(session: AsyncSession, now: datetime) -> int:
    """One pass of the billing job: overdue invoices first (a canceled subscription then
    gets its closing invoice, if any, in the same pass), then due invoices."""
    return await cancel_overdue(session, now) + await issue_all_due(session, now)
