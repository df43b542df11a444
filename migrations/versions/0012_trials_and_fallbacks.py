"""the plans each customer has trialled (one default trial per customer and plan), and the
link from a default-plan fallback to the subscription whose end it follows

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-03 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_trials",
        sa.Column("customer_pk", sa.Uuid(), nullable=False),
        sa.Column("plan_pk", sa.Uuid(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_pk"], ["customers.pk"]),
        sa.ForeignKeyConstraint(["plan_pk"], ["packages.pk"]),
        sa.PrimaryKeyConstraint("customer_pk", "plan_pk"),
    )
    # Every trial so far counts as the customer's trial of its plan.
    op.execute(
        "INSERT INTO customer_trials (customer_pk, plan_pk, started_at) "
        "SELECT customer_pk, plan_pk, min(start_date) FROM subscriptions "
        "WHERE trial_end_date IS NOT NULL GROUP BY customer_pk, plan_pk"
    )
    op.add_column("subscriptions", sa.Column("fallback_for_pk", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        "subscriptions_fallback_for_pk_fkey",
        "subscriptions",
        "subscriptions",
        ["fallback_for_pk"],
        ["pk"],
    )
    # Link the default-plan subscriptions already made for a subscription's end (they start
    # exactly when it ends, in its product and resource), so withdrawing that end removes them.
    op.execute(
        """
        UPDATE subscriptions f SET fallback_for_pk = e.pk
        FROM subscriptions e, products p, packages d
        WHERE e.customer_pk = f.customer_pk AND e.product_pk = f.product_pk
          AND e.pk <> f.pk AND NOT e.is_parallel_trial
          AND e.resource_id IS NOT DISTINCT FROM f.resource_id
          AND e.end_date = f.start_date
          AND p.pk = f.product_pk AND d.product_pk = p.pk AND d.kind = 'PLAN'
          AND d.id = p.default_plan_id AND f.plan_pk = d.pk AND e.plan_pk <> d.pk
        """
    )


def downgrade() -> None:
    op.drop_constraint("subscriptions_fallback_for_pk_fkey", "subscriptions", type_="foreignkey")
    op.drop_column("subscriptions", "fallback_for_pk")
    op.drop_table("customer_trials")
