"""Proration: an immediate change of an invoice-billed subscription's terms in the middle of
a billing period that was already invoiced is invoiced at the change.

Rules (docs/billing.md, "Proration"):
* the remaining fraction of a period is (period end - change) / (period end - period start),
  exact (microseconds);
* every charge billed in advance for the period on the old terms is credited for the
  remaining fraction, and every charge on the new terms is charged for the remaining
  fraction of the (new) current period; a charge the change leaves exactly as it was is
  neither credited nor charged again;
* a prorated line keeps its quantity; its unit amount is the original unit amount x the
  fraction, rounded half-even to 6 places (negative for a credit), and its amount is
  quantity x unit amount rounded to the currency's minor units, as every line;
* the lines go on one invoice (kind PRORATION) issued at the change; a negative total is a
  credit note (never overdue); a zero total issues nothing;
* nothing is prorated when the period's issue point has not been handled yet (its invoice
  will be issued on the new terms), in a trial, or for END_OF_PERIOD changes (they take
  effect at a boundary). A void period invoice was never owed: it is not credited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.billing.choices import InvoiceStatus
from app.domain.billing.invoice_pdf import day
from app.domain.billing.invoices import Preview, issue_invoice
from app.domain.billing.pricing import Line, Terms, advance_lines, check_billable, line, total_of
from app.domain.billing.terms import feature_names, terms_at
from app.domain.checks.customer_entitlements import CatalogView
from app.domain.money import minor_units
from app.domain.periods import BillingPeriod, Period, billing_period_for
from app.domain.subscriptions.dates import ENDED, Dates, billing_anchor, status_at
from app.errors import DomainError, ErrorCode
from app.models import Invoice, Subscription
from app.store import invoices as store
from app.store import units

UNIT_PLACES = Decimal("0.000001")  # unit amounts keep up to 6 places
_MICRO = timedelta(microseconds=1)


@dataclass(frozen=True)
class Before:
    """What a subscription was billed for the current period, read before a change."""

    terms: Terms
    currency: str | None
    period: Period
    credited: bool  # False: the period's invoice is void (nothing to credit)
    names: dict[str, str]


@dataclass(frozen=True)
class Proration:
    """What an immediate change invoices: the lines, from the change to the period's end."""

    currency: str | None
    lines: list[Line]
    period: Period
    total: Decimal
    invoice: Invoice | None  # None when the total is zero

    def as_preview(self) -> Preview:
        """The preview of the change: exactly what it invoices."""
        return Preview(self.currency, self.lines, self.total, self.period)


def _current_period(sub: Subscription, now: datetime) -> Period | None:
    """The paid billing period containing `now` (None in a trial, before the start or after
    the end)."""
    d = Dates.of(sub)
    anchor = billing_anchor(d)
    if now < anchor or status_at(d, now) in ENDED:
        return None
    return billing_period_for(now, BillingPeriod(sub.billing_period), anchor)


async def before_change(
    session: AsyncSession, sub: Subscription, view: CatalogView, now: datetime
) -> Before | None:
    """The current period's billing, when an immediate change would be prorated (the
    subscription is billed by invoice and its current period was invoiced); else None."""
    if sub.billing_mode != "INVOICE":
        return None
    period = _current_period(sub, now)
    if period is None:
        return None
    schedule = await store.lock_schedule(session, sub, now)
    if schedule.invoiced_until is None or schedule.invoiced_until < period.start:
        return None  # the period's invoice is still to come, on the terms then in force
    invoice = await store.invoice_at(session, sub.pk, period.start)
    names = await feature_names(session, sub.environment_pk)
    terms = terms_at(sub, view, names, now)
    try:
        currency = check_billable(terms)
    except DomainError:
        return None  # the old terms cannot be priced any more: there is nothing to credit
    credited = invoice is None or invoice.status != InvoiceStatus.VOID
    return Before(terms, currency, period, credited, names)


def fraction_left(period: Period, now: datetime) -> Decimal:
    """The part of `period` from `now` to its end, exactly."""
    with localcontext() as ctx:
        ctx.prec = 40
        left = Decimal((period.end - now) // _MICRO)
        return left / Decimal((period.end - period.start) // _MICRO)


def _part(item: Line, fraction: Decimal, sign: int, currency: str, span: Period) -> Line:
    label = "Unused time" if sign < 0 else "Remaining time"
    with localcontext() as ctx:
        ctx.prec = 40
        unit = (item.unit_amount * fraction * sign).quantize(UNIT_PLACES, ROUND_HALF_EVEN)
    return line(
        f"{label}: {item.description} ({day(span.start)} to {day(span.end)})",
        item.quantity,
        _trimmed(unit, currency),
        currency,
        item.kind,
        feature_id=item.feature_id,
        addon_id=item.addon_id,
        period=span,
    )


def _trimmed(value: Decimal, currency: str) -> Decimal:
    """Without trailing zeros beyond the currency's minor units (24.500000 -> 24.50)."""
    exponent = value.normalize().as_tuple().exponent
    places = max(minor_units(currency), -exponent if isinstance(exponent, int) else 0)
    return value.quantize(Decimal(1).scaleb(-places))


def _same(a: Line, b: Line) -> bool:
    return (a.kind, a.description, a.quantity, a.unit_amount, a.feature_id, a.addon_id) == (
        b.kind,
        b.description,
        b.quantity,
        b.unit_amount,
        b.feature_id,
        b.addon_id,
    )


def prorated_lines(
    before: Before, after: Terms, after_currency: str | None, new_period: Period, now: datetime
) -> tuple[str | None, list[Line]]:
    """(currency, lines) of the change: credits of the old charges, then the new charges."""
    old = (
        advance_lines(before.terms, before.currency, before.period)
        if before.currency is not None and before.credited
        else []
    )
    new = advance_lines(after, after_currency, new_period) if after_currency is not None else []
    if old and new and before.currency != after_currency:
        raise DomainError(
            ErrorCode.INVALID_CURRENCY,
            f"the period was invoiced in {before.currency}: a change within it cannot bill "
            f"in {after_currency} (change it at the end of the period)",
            ["priceOverrides"],
        )
    if before.period == new_period:  # unchanged charges are neither credited nor charged
        unchanged = list(new)
        kept_old = []
        for item in old:
            match = next((n for n in unchanged if _same(n, item)), None)
            if match is not None:
                unchanged.remove(match)
            else:
                kept_old.append(item)
        new, old = unchanged, kept_old
    currency = after_currency or before.currency
    if currency is None:
        return None, []
    old_span = Period(now, before.period.end)
    new_span = Period(now, new_period.end)
    credits = [
        _part(item, fraction_left(before.period, now), -1, currency, old_span)
        for item in old
        if item.amount != 0
    ]
    charges = [
        _part(item, fraction_left(new_period, now), 1, currency, new_span)
        for item in new
        if item.amount != 0
    ]
    return currency, [*credits, *charges]


async def charge_change(
    session: AsyncSession,
    before: Before | None,
    sub: Subscription,
    view: CatalogView,
    now: datetime,
) -> Proration | None:
    """Invoice an immediate change (after it was applied to `sub`): None when nothing is
    prorated."""
    if before is None or sub.billing_mode != "INVOICE":
        return None
    new_period = _current_period(sub, now)
    if new_period is None:
        return None
    after = terms_at(sub, view, before.names, now)
    currency, lines = prorated_lines(before, after, check_billable(after), new_period, now)
    # The current period is billed now, up to its end: when the change moved to another
    # billing period (annual to monthly), the schedule must not bill it again.
    schedule = await store.lock_schedule(session, sub, now)
    if schedule.invoiced_until is None or schedule.invoiced_until < new_period.start:
        schedule.invoiced_until = new_period.start
        schedule.next_due_at = new_period.end
        schedule.updated_at = now
        units.stage(session, schedule)
    total = total_of(lines)
    span = Period(now, new_period.end)
    invoice = None
    if currency is not None and lines and total != 0:
        invoice = await issue_invoice(
            session, sub, currency, lines, span.start, span.end, "PRORATION", now
        )
    return Proration(currency, lines, span, total, invoice)
