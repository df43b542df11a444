"""GraphQL types of sales-led billing: invoices, their lines, previews and billing settings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from app.domain.billing import invoice_links as links
from app.domain.billing.choices import InvoiceLineKind, InvoiceStatus
from app.domain.billing.invoices import is_overdue
from app.domain.billing.pricing import Line
from app.models import BillingSettings as SettingsRow
from app.models import Invoice as InvoiceRow
from app.schema.common import UserError
from app.schema.context import Context

if TYPE_CHECKING:
    from app.schema.customer_types import Customer, CustomerSubscription


strawberry.enum(
    InvoiceStatus,
    name="InvoiceStatus",
    description="Where an invoice is: OPEN (owed), PAID, or VOID (nothing owed).",
)
strawberry.enum(InvoiceLineKind, name="InvoiceLineKind", description="What a line charges for.")


@strawberry.type(description="One charge: amount = quantity x unitAmount, rounded half-even.")
class InvoiceLine:
    description: str = strawberry.field(description="What is charged, for humans.")
    quantity: Decimal = strawberry.field(description="How many units.")
    unit_amount: Decimal = strawberry.field(description="Price of one unit.")
    amount: Decimal = strawberry.field(description="The line's amount, in minor-unit precision.")
    kind: InvoiceLineKind = strawberry.field(description="Flat fee, per unit, add-on, usage…")
    feature_id: str | None = strawberry.field(description="The feature (per-unit and usage).")
    addon_id: str | None = strawberry.field(description="The add-on, for its charges.")
    period_start: datetime | None = strawberry.field(description="Start of the period billed.")
    period_end: datetime | None = strawberry.field(description="End of the period billed.")


def line_view(line: Line) -> InvoiceLine:
    return InvoiceLine(
        description=line.description,
        quantity=line.quantity,
        unit_amount=line.unit_amount,
        amount=line.amount,
        kind=InvoiceLineKind(line.kind),
        feature_id=line.feature_id,
        addon_id=line.addon_id,
        period_start=line.period_start,
        period_end=line.period_end,
    )


async def _link(info: Info[Context, None], env: Any, invoice_pk: Any, kind: str) -> str | None:
    ctx = info.context
    secret = await ctx.loaders.billing_link_secret.load(env)
    if secret is None:
        return None
    expires = links.expiry(ctx.now(), ctx.settings.invoice_link_days)
    token = links.make_token(secret, invoice_pk, expires)
    return links.absolute(ctx.settings.public_url, links.link_path(kind, token))


@strawberry.type(description="Who an invoice is addressed to, as it was issued.")
class InvoiceBillTo:
    customer_id: str = strawberry.field(description="The customer billed.")
    name: str | None = strawberry.field(description="Its legal name (else its name).")
    email: str | None = strawberry.field(description="Its email address.")
    address: str | None = strawberry.field(description="Its postal address (lines).")
    tax_id: str | None = strawberry.field(description="Its VAT / tax identification number.")


def bill_to_view(data: dict[str, Any]) -> InvoiceBillTo:
    return InvoiceBillTo(
        customer_id=str(data.get("customerId") or ""),
        name=data.get("name"),
        email=data.get("email"),
        address=data.get("address"),
        tax_id=data.get("taxId"),
    )


@strawberry.type(description="An invoice of a subscription billed by invoice.")
class Invoice:
    id: str = strawberry.field(description="The invoice number (prefix + sequence).")
    status: InvoiceStatus = strawberry.field(description="OPEN, PAID or VOID.")
    currency: str = strawberry.field(description="ISO 4217 currency code.")
    total: Decimal = strawberry.field(description="The sum of the lines.")
    lines: list[InvoiceLine] = strawberry.field(description="The charges.")
    issued_at: datetime = strawberry.field(description="When it was issued.")
    due_date: datetime = strawberry.field(description="Issue time + payment terms.")
    paid_at: datetime | None = strawberry.field(description="When it was paid.")
    voided_at: datetime | None = strawberry.field(description="When it was voided.")
    payment_terms_days: int = strawberry.field(description="Days allowed for payment.")
    period_start: datetime = strawberry.field(
        description="The issue point: the start of the period billed in advance (or the "
        "subscription's end, for a closing usage invoice)."
    )
    period_end: datetime | None = strawberry.field(
        description="End of the period billed in advance (null for a closing invoice)."
    )
    is_overdue: bool = strawberry.field(description="Still open and its due date has come.")
    bill_to: InvoiceBillTo = strawberry.field(
        description="The buyer: name, email, address and tax id, frozen at issue."
    )
    pk: strawberry.Private[Any]
    environment_pk: strawberry.Private[Any]
    subscription_pk: strawberry.Private[Any]
    customer_pk: strawberry.Private[Any]

    @strawberry.field(
        description="The invoice as a PDF: a link anyone holding it can open, valid for "
        "ALLOT_INVOICE_LINK_DAYS (30) days from this read."
    )
    async def pdf_url(self, info: Info[Context, None]) -> str | None:
        return await _link(info, self.environment_pk, self.pk, "pdf")

    @strawberry.field(
        description="A shareable payment page (amount, terms, due date, bank details), "
        "valid like pdfUrl."
    )
    async def payment_url(self, info: Info[Context, None]) -> str | None:
        return await _link(info, self.environment_pk, self.pk, "pay")

    @strawberry.field(description="The subscription invoiced.")
    async def subscription(
        self, info: Info[Context, None]
    ) -> Annotated[CustomerSubscription, strawberry.lazy("app.schema.customer_types")] | None:
        return await info.context.loaders.subscription_view_by_pk.load(self.subscription_pk)  # type: ignore[no-any-return]

    @strawberry.field(description="The customer billed.")
    async def customer(
        self, info: Info[Context, None]
    ) -> Annotated[Customer, strawberry.lazy("app.schema.customer_types")] | None:
        from app.schema.customer_types import customer_view

        row = await info.context.loaders.customer_by_pk.load(self.customer_pk)
        return None if row is None else customer_view(row)


def invoice_view(row: InvoiceRow, now: datetime) -> Invoice:
    return Invoice(
        id=row.id,
        status=InvoiceStatus(row.status),
        currency=row.currency,
        total=row.total,
        lines=[line_view(Line.from_json(item)) for item in row.lines],
        issued_at=row.issued_at,
        due_date=row.due_date,
        paid_at=row.paid_at,
        voided_at=row.voided_at,
        payment_terms_days=row.payment_terms_days,
        period_start=row.period_start,
        period_end=row.period_end,
        is_overdue=is_overdue(row, now),
        bill_to=bill_to_view(row.bill_to or {}),
        pk=row.pk,
        environment_pk=row.environment_pk,
        subscription_pk=row.subscription_pk,
        customer_pk=row.customer_pk,
    )


@strawberry.type(description="The charges a provisioning would produce (nothing is stored).")
class SubscriptionPreviewPayload:
    lines: list[InvoiceLine] = strawberry.field(description="The charges of one period.")
    total: Decimal | None = strawberry.field(description="The sum of the lines.")
    currency: str | None = strawberry.field(description="The billing currency (null: unpriced).")
    period_start: datetime | None = strawberry.field(description="Start of the period priced.")
    period_end: datetime | None = strawberry.field(description="End of the period priced.")
    errors: list[UserError] = strawberry.field(description="Why it could not be priced.")


@strawberry.type(description="Where to pay: printed on invoices and payment pages.")
class BankDetails:
    account_holder: str | None = strawberry.field(description="Name on the account.")
    bank_name: str | None = strawberry.field(description="The bank.")
    iban: str | None = strawberry.field(description="IBAN (checked; shown in groups of 4).")
    bic: str | None = strawberry.field(description="BIC / SWIFT code.")
    account_number: str | None = strawberry.field(description="Account number (non-IBAN).")
    routing_number: str | None = strawberry.field(description="Routing / sort code.")


@strawberry.type(description="Who issues the environment's invoices and how to pay them.")
class BillingSettings:
    company_name: str = strawberry.field(description="The issuer's legal name.")
    address: str = strawberry.field(description="The issuer's postal address (lines).")
    email: str = strawberry.field(description="Billing contact email.")
    tax_id: str = strawberry.field(description="VAT / tax identification number.")
    bank_details: BankDetails = strawberry.field(description="Bank account to pay into.")
    payment_instructions: str = strawberry.field(description="Free text printed to payers.")
    invoice_prefix: str = strawberry.field(description="Invoice numbers are PREFIX-00001…")
    next_invoice_number: int = strawberry.field(description="The next number of the sequence.")
    updated_at: datetime | None = strawberry.field(description="When they last changed.")


def settings_view(row: SettingsRow | None) -> BillingSettings:
    bank = dict(row.bank_details or {}) if row is not None else {}
    return BillingSettings(
        company_name=row.company_name if row else "",
        address=row.address if row else "",
        email=row.email if row else "",
        tax_id=row.tax_id if row else "",
        bank_details=BankDetails(
            account_holder=bank.get("accountHolder"),
            bank_name=bank.get("bankName"),
            iban=bank.get("iban"),
            bic=bank.get("bic"),
            account_number=bank.get("accountNumber"),
            routing_number=bank.get("routingNumber"),
        ),
        payment_instructions=row.payment_instructions if row else "",
        invoice_prefix=row.invoice_prefix if row else "INV",
        next_invoice_number=row.next_invoice_number if row else 1,
        updated_at=row.updated_at if row else None,
    )


@strawberry.input(description="Mark an invoice paid (e.g. when the bank transfer arrives).")
class MarkInvoicePaidInput:
    invoice_id: str = strawberry.field(description="The invoice.")
    paid_at: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="When it was paid (default now; not future)."
    )


@strawberry.input(description="Void an open invoice: nothing is owed any more.")
class VoidInvoiceInput:
    invoice_id: str = strawberry.field(description="The invoice.")


@strawberry.input(description="Bank account details; empty strings are left out.")
class BankDetailsInput:
    account_holder: str | None = strawberry.field(default=None, description="Name on account.")
    bank_name: str | None = strawberry.field(default=None, description="The bank.")
    iban: str | None = strawberry.field(default=None, description="IBAN (checksum checked).")
    bic: str | None = strawberry.field(default=None, description="BIC / SWIFT (8 or 11).")
    account_number: str | None = strawberry.field(default=None, description="Account number.")
    routing_number: str | None = strawberry.field(default=None, description="Routing code.")


@strawberry.input(description="Change billing settings: only the fields given change.")
class UpdateBillingSettingsInput:
    company_name: str | None = strawberry.field(default=strawberry.UNSET, description="Name.")
    address: str | None = strawberry.field(default=strawberry.UNSET, description="Address.")
    email: str | None = strawberry.field(default=strawberry.UNSET, description="Email.")
    tax_id: str | None = strawberry.field(default=strawberry.UNSET, description="Tax ID.")
    bank_details: BankDetailsInput | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the bank details as a whole."
    )
    payment_instructions: str | None = strawberry.field(
        default=strawberry.UNSET, description="Free text printed to payers."
    )
    invoice_prefix: str | None = strawberry.field(
        default=strawberry.UNSET, description="Prefix of new invoice numbers."
    )
    rotate_link_secret: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Expire every invoice link given out so far."
    )


@strawberry.type(description="The result of changing an invoice.")
class InvoicePayload:
    invoice: Invoice | None = strawberry.field(description="The invoice as it is now.")
    errors: list[UserError] = strawberry.field(description="Why nothing changed.")


@strawberry.type(description="The result of changing billing settings.")
class BillingSettingsPayload:
    billing_settings: BillingSettings | None = strawberry.field(description="The settings.")
    errors: list[UserError] = strawberry.field(description="Why nothing changed.")
