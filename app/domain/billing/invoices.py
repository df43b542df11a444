"""Invoices for subscriptions billed by invoice (`billing.mode = INVOICE`).

Rules (see docs/billing.md):
* paid periods count from the billing anchor (the trial's end, else the start); an invoice is
  issued at each period boundary: the first when paid periods begin, then one per renewal;
* an invoice bills the period that begins in advance (flat fees, per-unit prices, add-ons)
  and, from the second on, the usage-based charges of the period that just ended, in arrears;
  a subscription that ends gets a closing invoice for the usage of its last (partial) period;
* all lines of an invoice follow the terms in force at its issue point; an immediate change
  mid-period is prorated on an invoice of its own (app/domain/billing/proration.py);
  a period the subscription had already stopped running when its invoice went out is not
  billed in advance;
* nothing is issued when there is nothing to charge (a zero total);
* due date = issue time + the subscription's payment terms; an invoice still OPEN when its
  due date comes cancels the subscription at once (the job: app/domain/billing/job.py);
  paying it later does not restore it;
* exactly one invoice per subscription and issue point (a unique constraint), whoever issues.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.billing.choices import InvoiceStatus
from app.domain.billing.pricing import (
    Line,
    Terms,
    advance_lines,
    check_billable,
    total_of,
    usage_lines,
)
from app.domain.billing.terms import feature_names, terms_at
from app.domain.checks.customer_entitlements import CatalogView, load_catalog_view
from app.domain.periods import BillingPeriod, Period, billing_period_for
from app.domain.subscriptions.dates import Dates, billing_anchor
from app.errors import DomainError, ErrorCode
from app.models import Customer, Invoice, Subscription
from app.store import customers as customer_store
from app.store import invoices as store
from app.store import units

log = logging.getLogger("allot.invoices")

MAX_POINTS_PER_PASS = 24  # a long-missed subscription catches up over a few passes
_TICK = timedelta(microseconds=1)


# --- the schedule -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuePoint:
    """An instant an invoice is due: it bills `advance` (None at a closing point) and the
    usage of `arrears` (None at the first point)."""

    at: datetime
    advance: Period | None
    arrears: Period | None


def issue_points(
    d: Dates,
    after: datetime | None,
    now: datetime,
    limit: int = MAX_POINTS_PER_PASS,
    opened_at: datetime | None = None,
) -> tuple[list[IssuePoint], datetime | None]:
    """The issue points after `after` (the last one handled) up to `now`, and the next one
    after those (None when the subscription's invoicing is over).

    `opened_at` is when invoicing opens for a subscription never invoiced before (its
    provisioning). Paid periods that had already ended then (a backdated start) are never
    invoiced: the first invoice bills the period in progress, in advance, without arrears."""
    anchor, end = billing_anchor(d), d.end_date
    step = BillingPeriod(d.billing_period)
    if end is not None and (end <= anchor or (after is not None and after >= end)):
        return [], None
    at = anchor if after is None else billing_period_for(after, step, anchor).end
    skipped_to = None  # the first point of a backdated subscription: no arrears billed
    if after is None and opened_at is not None and anchor < opened_at:
        if end is not None and end <= opened_at:
            return [], None  # over before invoicing opened: nothing is invoiced
        at = skipped_to = billing_period_for(opened_at, step, anchor).start
    points: list[IssuePoint] = []
    while len(points) < limit:
        if end is not None and at >= end:
            if end > now:
                return points, end
            last = billing_period_for(end - _TICK, step, anchor)
            points.append(IssuePoint(end, None, Period(last.start, end)))
            return points, None
        if at > now:
            return points, at
        period = billing_period_for(at, step, anchor)
        arrears = (
            billing_period_for(at - _TICK, step, anchor)
            if at > anchor and at != skipped_to
            else None
        )
        points.append(IssuePoint(at, period, arrears))
        at = period.end
    return points, at


# --- issuing ------------------------------------------------------------------------------------


def _issuer(settings: Any) -> dict[str, Any]:
    return {
        "companyName": settings.company_name,
        "address": settings.address,
        "email": settings.email,
        "taxId": settings.tax_id,
        "bankDetails": dict(settings.bank_details or {}),
        "paymentInstructions": settings.payment_instructions,
    }


async def _lines_at(
    session: AsyncSession, sub: Subscription, terms: Terms, currency: str, point: IssuePoint
) -> list[Line]:
    lines: list[Line] = []
    if point.advance is not None:
        lines += advance_lines(terms, currency, point.advance)
    if point.arrears is not None and terms.has_usage_prices():
        features = sorted(
            {
                p["featureId"]
                for p in [*terms.prices, *(p for a in terms.addons for p in a.prices)]
                if p["model"] == "USAGE_BASED"
            }
        )
        usage = await store.period_usage(
            session,
            sub.customer_pk,
            sub.resource_id or "",
            features,
            point.arrears.start,
            point.arrears.end,
        )
        lines += usage_lines(terms, currency, usage, point.arrears)
    return lines


async def _issue_at(
    session: AsyncSession,
    sub: Subscription,
    customer: Customer,
    point: IssuePoint,
    view: CatalogView,
    names: Mapping[str, str],
    now: datetime,
) -> Invoice | None:
    terms = terms_at(sub, view, names, point.at)
    currency = check_billable(terms)
    if currency is None:
        return None
    end = sub.end_date
    if point.advance is not None and end is not None and end <= now and end < point.advance.end:
        # It ended before this invoice went out (canceled for non-payment as the period
        # began, or while the job was down): the period it will not run is not billed.
        point = IssuePoint(point.at, None, point.arrears)
    lines = await _lines_at(session, sub, terms, currency, point)
    total = total_of(lines)
    if total <= 0 or await store.invoice_at(session, sub.pk, point.at) is not None:
        return None
    return await issue_invoice(
        session,
        sub,
        currency,
        lines,
        point.at,
        point.advance.end if point.advance is not None else None,
        "PERIOD",
        now,
        customer,
    )


def bill_to(customer: Customer) -> dict[str, Any]:
    """Who the invoice is addressed to, as it is printed (frozen at issue): the customer's
    billing details when it has them (its legal name instead of its name)."""
    details = customer.billing_details or {}
    return {
        "customerId": customer.id,
        "name": details.get("legalName") or customer.name,
        "email": customer.email,
        "address": details.get("address"),
        "taxId": details.get("taxId"),
    }


async def issue_invoice(
    session: AsyncSession,
    sub: Subscription,
    currency: str,
    lines: list[Line],
    period_start: datetime,
    period_end: datetime | None,
    kind: str,
    now: datetime,
    customer: Customer | None = None,
) -> Invoice:
    """Number, store and announce an invoice of the subscription with these lines."""
    customer = customer or await customer_store.customer_by_pk(session, sub.customer_pk)
    assert customer is not None
    env = sub.environment_pk
    number = await store.next_invoice_number(session, env, now)
    settings = await store.ensure_settings(session, env, now)
    terms_days = sub.payment_terms_days if sub.payment_terms_days is not None else 30
    invoice = Invoice(
        environment_pk=env,
        id=f"{settings.invoice_prefix}-{number:05d}",
        customer_pk=sub.customer_pk,
        subscription_pk=sub.pk,
        status=InvoiceStatus.OPEN,
        kind=kind,
        currency=currency,
        total=total_of(lines),
        lines=[ln.to_json() for ln in lines],
        period_start=period_start,
        period_end=period_end,
        issued_at=now,
        due_date=now + timedelta(days=terms_days),
        issuer=_issuer(settings),
        bill_to=bill_to(customer),
        payment_terms_days=terms_days,
        created_at=now,
        updated_at=now,
    )
    await units.add(session, invoice)
    await _announce(session, "invoice.created", invoice, customer.id, sub.id, now)
    return invoice


async def _announce(session: AsyncSession, event_type: str, invoice: Invoice,
                    customer_id: str, subscription_id: str, now: datetime) -> None:
    from app.domain.outbound.outbox import emit

    await emit(session, invoice.environment_pk, event_type, {"invoice": {
        "id": invoice.id, "subscriptionId": subscription_id, "customerId": customer_id,
        "status": invoice.status, "currency": invoice.currency, "total": invoice.total,
        "issuedAt": invoice.issued_at, "dueDate": invoice.due_date,
        "paidAt": invoice.paid_at, "voidedAt": invoice.voided_at}}, now)


async def announce(session: AsyncSession, event_type: str, invoice: Invoice,
                   now: datetime) -> None:
    """A webhook event about the invoice, in the transaction that changed it."""
    customer = await customer_store.customer_by_pk(session, invoice.customer_pk)
    sub = await customer_store.subscription_by_pk(session, invoice.subscription_pk)
    await _announce(session, event_type, invoice, customer.id if customer else "",
                    sub.id if sub else "", now)


async def issue_due(
    session: AsyncSession,
    sub: Subscription,
    now: datetime,
    view: CatalogView | None = None,
    names: Mapping[str, str] | None = None,
    opened_at: datetime | None = None,
) -> list[Invoice]:
    """Issue every invoice of the subscription due by `now` and move its schedule on. The
    caller holds the customer's lock; the schedule row's lock makes it exactly once.
    `opened_at`: see `issue_points` (provisioning passes it; the job never does, so a job
    that was down still catches up)."""
    if sub.billing_mode != "INVOICE":
        return []
    schedule = await store.lock_schedule(session, sub, now)
    points, next_due = issue_points(
        Dates.of(sub), schedule.invoiced_until, now, opened_at=opened_at
    )
    issued: list[Invoice] = []
    if points:
        view = view or await load_catalog_view(session, sub.environment_pk)
        names = names if names is not None else await feature_names(session, sub.environment_pk)
        customer = (await customer_store.customers_by_pks(session, [sub.customer_pk]))[
            sub.customer_pk
        ]
        for point in points:
            invoice = await _issue_at(session, sub, customer, point, view, names, now)
            if invoice is not None:
                issued.append(invoice)
        schedule.invoiced_until = points[-1].at
    schedule.next_due_at = next_due
    schedule.updated_at = now
    await units.add(session, schedule)
    return issued


async def after_provisioning(
    session: AsyncSession, sub: Subscription, now: datetime
) -> list[Invoice]:
    """In the provisioning's transaction: refuse terms that could not be invoiced, and issue
    the first invoice when paid periods begin now (later ones are the job's). A backdated
    subscription is invoiced from the period in progress on (docs/billing.md, Backdating)."""
    if sub.billing_mode != "INVOICE":
        return []
    view = await load_catalog_view(session, sub.environment_pk)
    names = await feature_names(session, sub.environment_pk)
    check_billable(terms_at(sub, view, names, max(now, billing_anchor(Dates.of(sub)))))
    return await issue_due(session, sub, now, view, names, opened_at=now)


# --- preview ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    currency: str | None
    lines: list[Line]
    total: Decimal
    period: Period | None


async def preview(session: AsyncSession, sub: Subscription, now: datetime) -> Preview:
    """The charges of one billing period on the subscription's terms: the first paid period
    (or the current one, for a plan change; from its effective date for a scheduled one).
    Usage-based prices are billed in arrears, so they add nothing here. (An immediate change
    that is prorated previews exactly the proration it invoices: `Proration.as_preview`.)"""
    d = Dates.of(sub)
    anchor = billing_anchor(d)
    step = BillingPeriod(sub.billing_period)
    change = sub.scheduled_change
    if change is not None:
        at = datetime.fromisoformat(change["effectiveAt"])
    else:
        at = anchor if anchor >= now else billing_period_for(now, step, anchor).start
    period = billing_period_for(at, step, anchor)
    view = await load_catalog_view(session, sub.environment_pk)
    terms = terms_at(sub, view, await feature_names(session, sub.environment_pk), at)
    currency = check_billable(terms)
    if currency is None:
        return Preview(None, [], Decimal(0), period)
    lines = advance_lines(terms, currency, period)
    return Preview(currency, lines, total_of(lines), period)


# --- paying and voiding -------------------------------------------------------------------------


async def _require(session: AsyncSession, env: uuid.UUID, invoice_id: str) -> Invoice:
    invoice = await store.get_invoice(session, env, invoice_id, lock=True)
    if invoice is None:
        raise DomainError(ErrorCode.INVOICE_NOT_FOUND, f"no invoice {invoice_id!r}", ["invoiceId"])
    return invoice


async def mark_paid(
    session: AsyncSession,
    env: uuid.UUID,
    invoice_id: str,
    now: datetime,
    paid_at: datetime | None = None,
) -> Invoice:
    """OPEN -> PAID (at `paid_at`, default now). Paying a paid invoice again changes nothing;
    a void one cannot be paid."""
    invoice = await _require(session, env, invoice_id)
    if invoice.status == InvoiceStatus.VOID:
        raise DomainError(
            ErrorCode.INVOICE_VOIDED, f"invoice {invoice_id!r} is void", ["invoiceId"]
        )
    if invoice.status == InvoiceStatus.PAID:
        return invoice
    when = paid_at or now
    if when.tzinfo is None or when > now or when < invoice.issued_at:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "paidAt must be a time with a zone, between the issue time and now",
            ["paidAt"],
        )
    invoice.status, invoice.paid_at, invoice.updated_at = InvoiceStatus.PAID, when, now
    await units.add(session, invoice)
    await announce(session, "invoice.paid", invoice, now)
    return invoice


async def void(session: AsyncSession, env: uuid.UUID, invoice_id: str, now: datetime) -> Invoice:
    """OPEN -> VOID: nothing is owed (it never cancels the subscription). Voiding a void
    invoice changes nothing; a paid one cannot be voided."""
    invoice = await _require(session, env, invoice_id)
    if invoice.status == InvoiceStatus.PAID:
        raise DomainError(
            ErrorCode.INVOICE_ALREADY_PAID,
            f"invoice {invoice_id!r} is paid; it cannot be voided",
            ["invoiceId"],
        )
    if invoice.status == InvoiceStatus.OPEN:
        invoice.status, invoice.voided_at, invoice.updated_at = InvoiceStatus.VOID, now, now
        await units.add(session, invoice)
        await announce(session, "invoice.voided", invoice, now)
    return invoice


def is_overdue(invoice: Invoice, now: datetime) -> bool:
    """Still open at or after its due date: the payment terms are up (a credit note, with a
    negative total, is owed to the customer: never overdue)."""
    return invoice.status == InvoiceStatus.OPEN and invoice.total > 0 and now >= invoice.due_date
