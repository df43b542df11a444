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
down_revision: str | None = "0010"
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
        # As every timestamp column since 0010: never ±infinity.
        sa.CheckConstraint('isfinite("started_at")', name="ck_customer_trials_started_at_finite"),
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

    # CANCEL trials had their fallback made by the job once it saw them expire, and a backdated
    # one (stored EXPIRED at once) never: make the missing ones now, as provisioning makes
    # them today (starting at the trial's end, in the past for the expired ones).
    op.execute(
        """
        INSERT INTO subscriptions (
            pk, environment_pk, id, customer_pk, product_pk, plan_pk, plan_version,
            resource_id, status, billing_period, start_date, is_parallel_trial, addons,
            entitlements, price_overrides, billing_mode, fallback_for_pk, created_at, updated_at)
        SELECT gen_random_uuid(), t.environment_pk,
               'sub_' || substr(md5(random()::text || t.pk::text), 1, 20),
               t.customer_pk, t.product_pk, d.pk, d.latest_version, t.resource_id,
               CASE WHEN t.end_date <= now() THEN 'ACTIVE' ELSE 'SCHEDULED' END, 'MONTHLY',
               t.end_date, false, '[]'::jsonb, '{}'::jsonb, '[]'::jsonb, 'EXTERNAL', t.pk,
               now(), now()
        FROM subscriptions t
        JOIN customers c ON c.pk = t.customer_pk
        JOIN products p ON p.pk = t.product_pk
        JOIN packages d ON d.product_pk = p.pk AND d.kind = 'PLAN' AND d.id = p.default_plan_id
        WHERE t.trial_end_behavior = 'CANCEL' AND t.end_date = t.trial_end_date
          AND NOT t.is_parallel_trial AND c.archived_at IS NULL
          AND p.downgrade_to_default AND d.pk <> t.plan_pk
          AND d.archived_at IS NULL AND d.latest_version IS NOT NULL
          AND NOT EXISTS (
              SELECT 1 FROM subscriptions o
              WHERE o.customer_pk = t.customer_pk AND o.product_pk = t.product_pk
                AND o.pk <> t.pk AND o.resource_id IS NOT DISTINCT FROM t.resource_id
                AND (o.end_date IS NULL OR o.end_date > t.end_date))
        """
    )


def downgrade() -> None:
    op.drop_constraint("subscriptions_fallback_for_pk_fkey", "subscriptions", type_="foreignkey")
    op.drop_column("subscriptions", "fallback_for_pk")
    op.drop_table("customer_trials")
