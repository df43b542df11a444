"""Sales-led billing: an environment's billing settings, invoices, and each invoiced
subscription's schedule (which issue points the job has handled)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Index, Numeric, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.models.base import jsonb, timestamp, uuid_pk
from app.secrets_at_rest import EncryptedString


class BillingSettings(SQLModel, table=True):
    """Who issues the environment's invoices and where to pay them. `next_invoice_number`
    is the invoice sequence (taken with an atomic upsert); `link_secret` signs the links to
    invoice PDFs and payment pages (rotating it expires every link); it is stored encrypted."""

    __tablename__ = "billing_settings"

    environment_pk: uuid.UUID = Field(foreign_key="environments.pk", primary_key=True)
    company_name: str = ""
    address: str = ""
    email: str = ""
    tax_id: str = ""
    bank_details: dict[str, Any] = jsonb(default=dict)
    payment_instructions: str = ""
    invoice_prefix: str = "INV"
    next_invoice_number: int = 1
    link_secret: str = Field(sa_column=Column(EncryptedString(), nullable=False))
    updated_at: datetime = timestamp()


class Invoice(SQLModel, table=True):
    """An invoice of a subscription billed by invoice, issued at `period_start` (a period
    boundary, or the subscription's end for a closing usage invoice): one per subscription
    and issue point, enforced by the unique index; or a proration invoice issued at an
    immediate change (`kind`). `issuer` and `bill_to` are what the
    document says, frozen at issue."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("environment_pk", "id"),
        # One period invoice per issue point; proration invoices are issued at changes.
        Index(
            "uq_invoices_period",
            "subscription_pk",
            "period_start",
            unique=True,
            postgresql_where=text("kind = 'PERIOD'"),
        ),
        Index("ix_invoices_customer", "customer_pk", "issued_at"),
        Index("ix_invoices_subscription", "subscription_pk", "issued_at"),
        Index("ix_invoices_open_due", "status", "due_date"),
        # Insights: revenue over a range of issue dates.
        Index("ix_invoices_environment_issued", "environment_pk", "issued_at"),
    )

    pk: uuid.UUID = uuid_pk()
    environment_pk: uuid.UUID = Field(foreign_key="environments.pk", index=True)
    id: str  # the invoice number, e.g. INV-00042
    customer_pk: uuid.UUID = Field(foreign_key="customers.pk")
    subscription_pk: uuid.UUID = Field(foreign_key="subscriptions.pk")
    status: str = "OPEN"  # OPEN | PAID | VOID
    # PERIOD (a period's charges, or a closing invoice) | PRORATION (issued at a change)
    kind: str = "PERIOD"
    currency: str
    total: Decimal = Field(sa_column=Column(Numeric(), nullable=False))
    lines: list[dict[str, Any]] = jsonb(default=list)
    period_start: datetime = timestamp()
    period_end: datetime | None = timestamp(nullable=True)
    issued_at: datetime = timestamp()
    due_date: datetime = timestamp()
    paid_at: datetime | None = timestamp(nullable=True)
    voided_at: datetime | None = timestamp(nullable=True)
    overdue_at: datetime | None = timestamp(nullable=True)  # the job handled it as overdue
    issuer: dict[str, Any] = jsonb(default=dict)
    bill_to: dict[str, Any] = jsonb(default=dict)
    payment_terms_days: int = 0
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class InvoiceSchedule(SQLModel, table=True):
    """Where a subscription's invoicing stands: the last issue point handled (whether or not
    it produced an invoice) and the next one due (null when its billing is over)."""

    __tablename__ = "invoice_schedules"
    __table_args__ = (Index("ix_invoice_schedules_due", "next_due_at"),)

    subscription_pk: uuid.UUID = Field(foreign_key="subscriptions.pk", primary_key=True)
    environment_pk: uuid.UUID = Field(foreign_key="environments.pk", index=True)
    invoiced_until: datetime | None = timestamp(nullable=True)
    next_due_at: datetime | None = timestamp(nullable=True)
    updated_at: datetime = timestamp()
