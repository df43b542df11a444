"""the insights' narrow columns: each feature entitlement's environment, whether it is granted
and metered and its effective limit; the current counters of a feature across customers

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 23:50:00

`limitUtilization` and `usageDistribution` (docs/console.md, "Insights") read every customer's
entitlement of the metered features. From the JSON document (~900 bytes a row, 680 MB at
100,000 customers) that was a scan of the whole table; now `customer_feature_entitlements`
carries, beside the document:

- `environment_pk` (written by `save_entitlements`; here backfilled from
  `customer_entitlements` in one UPDATE), so an environment's rows are found without a join;
- `granted`, `metered` and `usage_limit` (the effective limit: null when not granted,
  unlimited, or without a limit), generated from the document by PostgreSQL itself (STORED),
  so they can never disagree with it, whatever writes the row;

and two partial indexes, (environment, feature, customer) with the limit: over the granted
metered rows (usageDistribution) and over those with a limit (limitUtilization), each read
alone (an index-only scan). The counters get one index
in (environment, feature, customer, newest period first) order with the period's end and the
value, over the counters not per resource: the current counter of each customer for a
feature is read from it alone, already in order (no sort). Adding the columns rewrites the
table once (a few seconds per 100,000 customers).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As PostgreSQL renders them (app/models/customers.py holds the same texts).
GRANTED = "COALESCE(((entitlement ->> 'granted'::text) = 'true'::text), false)"
METERED = "COALESCE(((entitlement ->> 'feature_type'::text) = 'METERED'::text), false)"
USAGE_LIMIT = (
    "CASE WHEN (((entitlement ->> 'granted'::text) = 'true'::text) AND "
    "(COALESCE((entitlement ->> 'is_unlimited'::text), 'false'::text) <> 'true'::text)) "
    "THEN ((entitlement ->> 'usage_limit'::text))::double precision "
    "ELSE NULL::double precision END"
)


def upgrade() -> None:
    op.execute(
        "ALTER TABLE customer_feature_entitlements "
        "ADD COLUMN environment_pk uuid REFERENCES environments (pk), "
        f"ADD COLUMN granted boolean GENERATED ALWAYS AS ({GRANTED}) STORED NOT NULL, "
        f"ADD COLUMN metered boolean GENERATED ALWAYS AS ({METERED}) STORED NOT NULL, "
        f"ADD COLUMN usage_limit double precision GENERATED ALWAYS AS ({USAGE_LIMIT}) STORED"
    )
    op.execute(
        "UPDATE customer_feature_entitlements fe SET environment_pk = ce.environment_pk "
        "FROM customer_entitlements ce WHERE ce.customer_pk = fe.customer_pk"
    )
    # A feature row without its state row is never read (app/models/customers.py): none
    # should exist; one that does is dropped rather than left without an environment.
    op.execute("DELETE FROM customer_feature_entitlements WHERE environment_pk IS NULL")
    op.alter_column("customer_feature_entitlements", "environment_pk", nullable=False)
    op.create_index(
        "ix_customer_feature_entitlements_insights",
        "customer_feature_entitlements",
        ["environment_pk", "feature_id", "customer_pk"],
        unique=False,
        postgresql_include=["usage_limit"],
        postgresql_where=sa.text("granted AND metered"),
    )
    op.create_index(
        "ix_customer_feature_entitlements_limits",
        "customer_feature_entitlements",
        ["environment_pk", "feature_id", "customer_pk"],
        unique=False,
        postgresql_include=["usage_limit"],
        postgresql_where=sa.text("granted AND metered AND usage_limit IS NOT NULL"),
    )
    op.create_index(
        "ix_usage_counters_feature_current",
        "usage_counters",
        ["environment_pk", "feature_id", "customer_pk", sa.text("period_start DESC")],
        unique=False,
        postgresql_include=["period_end", "value"],
        postgresql_where=sa.text("resource_key = ''"),
    )


def downgrade() -> None:
    op.drop_index("ix_usage_counters_feature_current", table_name="usage_counters")
    op.drop_index(
        "ix_customer_feature_entitlements_limits", table_name="customer_feature_entitlements"
    )
    op.drop_index(
        "ix_customer_feature_entitlements_insights", table_name="customer_feature_entitlements"
    )
    for column in ("usage_limit", "metered", "granted", "environment_pk"):
        op.drop_column("customer_feature_entitlements", column)
