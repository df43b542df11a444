"""entitlements per feature: one row per (customer, feature) instead of one document

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-07 15:30:00

A check reads one feature's entitlement. Kept in one jsonb document per customer, that read
decompressed the whole document (several kilobytes, stored compressed) for every check and
every usage report. Each feature now has its own row, so the read is one index probe into a
small uncompressed value; `customer_entitlements` keeps the per-customer state (active
subscription, valid until, computed at). The downgrade folds the rows back into documents.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_feature_entitlements",
        sa.Column("customer_pk", sa.Uuid(), nullable=False),
        sa.Column("feature_id", sa.String(), nullable=False),
        sa.Column("entitlement", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(["customer_pk"], ["customers.pk"]),
        sa.PrimaryKeyConstraint("customer_pk", "feature_id"),
    )
    op.execute(
        "INSERT INTO customer_feature_entitlements (customer_pk, feature_id, entitlement) "
        "SELECT ce.customer_pk, e.key, e.value "
        "FROM customer_entitlements ce, jsonb_each(ce.entitlements) e"
    )
    op.drop_column("customer_entitlements", "entitlements")


def downgrade() -> None:
    op.add_column(
        "customer_entitlements",
        sa.Column("entitlements", postgresql.JSONB(astext_type=sa.Text()), nullable=False,
                  server_default=sa.text("'{}'::jsonb")),
    )
    op.execute(
        "UPDATE customer_entitlements ce SET entitlements = f.doc FROM ("
        "SELECT customer_pk, jsonb_object_agg(feature_id, entitlement) AS doc "
        "FROM customer_feature_entitlements GROUP BY customer_pk) f "
        "WHERE f.customer_pk = ce.customer_pk"
    )
    op.alter_column("customer_entitlements", "entitlements", server_default=None)
    op.drop_table("customer_feature_entitlements")
