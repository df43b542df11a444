"""push: versions of cached entitlements and usage counters, and their notifications

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-07 15:30:00

`customer_entitlements.version` is bumped by every rewrite of a customer's cached
entitlements (under the customer's row lock, so for one customer a greater version is a
newer state). `usage_counters.version` takes the next value of one sequence on every write
of the counter's value (under the counter's row lock: for one counter a greater version is
newer). Every committed change of a counter's value is announced on the channel
`allot_usage_changed` by a trigger, so no writer (reports, batches, raw events, consume) can
forget it; PostgreSQL delivers it only when the transaction commits (docs/push.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "customer_entitlements",
        sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.add_column(
        "usage_counters",
        sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.execute("CREATE SEQUENCE usage_counter_versions AS bigint")
    op.execute(
        """
        CREATE FUNCTION allot_usage_counter_version() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            NEW.version := nextval('usage_counter_versions');
            RETURN NEW;
        END $$
        """
    )
    # AFTER, not BEFORE: an INSERT … ON CONFLICT DO UPDATE fires BEFORE INSERT for the row it
    # proposes even when it updates instead; AFTER triggers fire only for what was written.
    op.execute(
        """
        CREATE FUNCTION allot_usage_counter_notify() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND NEW.value = OLD.value THEN
                RETURN NULL;
            END IF;
            IF TG_OP = 'INSERT' AND NEW.value = 0 THEN
                RETURN NULL;  -- allot_record_usage's placeholder row: its update announces
            END IF;
            PERFORM pg_notify('allot_usage_changed', json_build_array(
                NEW.environment_pk, NEW.customer_pk, NEW.feature_id, NEW.resource_key,
                NEW.period_start, NEW.period_end, NEW.version::text)::text);
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER usage_counters_version BEFORE INSERT OR UPDATE OF value "
        "ON usage_counters FOR EACH ROW EXECUTE FUNCTION allot_usage_counter_version()"
    )
    op.execute(
        "CREATE TRIGGER usage_counters_notify AFTER INSERT OR UPDATE OF value "
        "ON usage_counters FOR EACH ROW EXECUTE FUNCTION allot_usage_counter_notify()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER usage_counters_notify ON usage_counters")
    op.execute("DROP TRIGGER usage_counters_version ON usage_counters")
    op.execute("DROP FUNCTION allot_usage_counter_notify()")
    op.execute("DROP FUNCTION allot_usage_counter_version()")
    op.execute("DROP SEQUENCE usage_counter_versions")
    op.drop_column("usage_counters", "version")
    op.drop_column("customer_entitlements", "version")
