"""push: versions of cached entitlements and of usage counters

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 15:30:00

`customer_entitlements.version` is bumped by every rewrite of a customer's cached
entitlements (under the customer's row lock, so for one customer a greater version is a
newer state). `usage_counters.version` takes the next value of one sequence whenever the
counter's value changes (a trigger, so every writer — reports, batches, raw events, consume —
gives it one; under the counter's row lock, so for one counter a greater version is newer).
docs/push.md says how push uses them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
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
            IF TG_OP = 'UPDATE' AND NEW.value = OLD.value THEN
                RETURN NEW;  -- unchanged: the same version
            END IF;
            NEW.version := nextval('usage_counter_versions');
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER usage_counters_version BEFORE INSERT OR UPDATE OF value "
        "ON usage_counters FOR EACH ROW EXECUTE FUNCTION allot_usage_counter_version()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER usage_counters_version ON usage_counters")
    op.execute("DROP FUNCTION allot_usage_counter_version()")
    op.execute("DROP SEQUENCE usage_counter_versions")
    op.drop_column("usage_counters", "version")
    op.drop_column("customer_entitlements", "version")
