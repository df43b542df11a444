"""billing: settings, invoices, invoice schedules

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_settings",
        sa.Column("environment_pk", sa.Uuid(), nullable=False),
        sa.Column("company_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("tax_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("bank_details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("payment_instructions", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("invoice_prefix", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("next_invoice_number", sa.Integer(), nullable=False),
        sa.Column("link_secret", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["environment_pk"], ["environments.pk"]),
        sa.PrimaryKeyConstraint("environment_pk"),
    )
    op.create_table(
        "invoices",
        sa.Column("pk", sa.Uuid(), nullable=False),
        sa.Column("environment_pk", sa.Uuid(), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("customer_pk", sa.Uuid(), nullable=False),
        sa.Column("subscription_pk", sa.Uuid(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("total", sa.Numeric(), nullable=False),
        sa.Column("lines", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("issuer", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("bill_to", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_pk"], ["customers.pk"]),
        sa.ForeignKeyConstraint(["environment_pk"], ["environments.pk"]),
        sa.ForeignKeyConstraint(["subscription_pk"], ["subscriptions.pk"]),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("environment_pk", "id"),
        sa.UniqueConstraint("subscription_pk", "period_start", name="uq_invoices_period"),
    )
    op.create_index("ix_invoices_customer", "invoices", ["customer_pk", "issued_at"])
    op.create_index("ix_invoices_subscription", "invoices", ["subscription_pk", "issued_at"])
    op.create_index("ix_invoices_open_due", "invoices", ["status", "due_date"])
    op.create_index(op.f("ix_invoices_environment_pk"), "invoices", ["environment_pk"])
    op.create_table(
        "invoice_schedules",
        sa.Column("subscription_pk", sa.Uuid(), nullable=False),
        sa.Column("environment_pk", sa.Uuid(), nullable=False),
        sa.Column("invoiced_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["environment_pk"], ["environments.pk"]),
        sa.ForeignKeyConstraint(["subscription_pk"], ["subscriptions.pk"]),
        sa.PrimaryKeyConstraint("subscription_pk"),
    )
    op.create_index("ix_invoice_schedules_due", "invoice_schedules", ["next_due_at"])
    op.create_index(
        op.f("ix_invoice_schedules_environment_pk"), "invoice_schedules", ["environment_pk"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_invoice_schedules_environment_pk"), table_name="invoice_schedules")
    op.drop_index("ix_invoice_schedules_due", table_name="invoice_schedules")
    op.drop_table("invoice_schedules")
    op.drop_index(op.f("ix_invoices_environment_pk"), table_name="invoices")
    op.drop_index("ix_invoices_open_due", table_name="invoices")
    op.drop_index("ix_invoices_subscription", table_name="invoices")
    op.drop_index("ix_invoices_customer", table_name="invoices")
    op.drop_table("invoices")
    op.drop_table("billing_settings")
