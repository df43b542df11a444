"""event payload hashes (a reused event key is an error), prorated invoices beside the
periods' (one period invoice per issue point), customer billing details

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Events stored before this have no hash: a repeat of their key counts as a duplicate.
    op.add_column(
        "usage_events",
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    )
    # Every invoice so far bills a period (or closes one).
    op.add_column(
        "invoices",
        sa.Column(
            "kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default="PERIOD"
        ),
    )
    op.alter_column("invoices", "kind", server_default=None)
    # One *period* invoice per subscription and issue point; a proration invoice, issued at a
    # change, may share its instant (a change at a period's first instant).
    op.drop_constraint("uq_invoices_period", "invoices", type_="unique")
    op.create_index(
        "uq_invoices_period",
        "invoices",
        ["subscription_pk", "period_start"],
        unique=True,
        postgresql_where=sa.text("kind = 'PERIOD'"),
    )
    op.add_column(
        "customers",
        sa.Column("billing_details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("customers", "billing_details")
    op.execute("DELETE FROM invoices WHERE kind <> 'PERIOD'")
    op.drop_index(
        "uq_invoices_period", table_name="invoices", postgresql_where=sa.text("kind = 'PERIOD'")
    )
    op.create_unique_constraint(
        "uq_invoices_period", "invoices", ["subscription_pk", "period_start"]
    )
    op.drop_column("invoices", "kind")
    op.drop_column("usage_events", "request_hash")
