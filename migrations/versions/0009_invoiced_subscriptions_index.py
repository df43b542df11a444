"""a partial index for the billing job's scan of subscriptions billed by invoice

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 07:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_subscriptions_invoiced", "subscriptions", ["start_date"], unique=False,
        postgresql_where=sa.text("billing_mode = 'INVOICE'"),
    )


def downgrade() -> None:
    op.drop_index("ix_subscriptions_invoiced", table_name="subscriptions",
                  postgresql_where=sa.text("billing_mode = 'INVOICE'"))
