"""usage counters keyed by their whole period (start and end)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 07:40:00

A counter used to be identified by the start of its usage period alone, so two periods that
start at the same instant — a calendar day and a calendar month on the 1st, a month and a
year anchored to the same subscription start — shared one counter, and a plan change from
one reset period to the other kept the usage it should have started over. The period's end is
now part of the key of counters, of the distinct values of UNIQUE_COUNT meters and of
threshold crossings. A counter that never resets ends at 9999-12-31 (NO_PERIOD_END).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NO_PERIOD_END = "9999-12-31 00:00:00+00"
KEY = ["customer_pk", "feature_id", "resource_key", "period_start"]


def upgrade() -> None:
    op.execute(f"UPDATE usage_counters SET period_end = '{NO_PERIOD_END}' WHERE period_end IS NULL")
    op.alter_column("usage_counters", "period_end", nullable=False)
    op.drop_constraint("usage_counters_pkey", "usage_counters", type_="primary")
    op.create_primary_key("usage_counters_pkey", "usage_counters", [*KEY, "period_end"])
    for table, last in (("usage_unique_values", "value"),
                        ("usage_threshold_crossings", "threshold")):
        op.execute(f"ALTER TABLE {table} ADD COLUMN period_end timestamptz")
        # The end of the counter the row belongs to (the old key could name only one).
        op.execute(
            f"UPDATE {table} t SET period_end = coalesce(("
            "SELECT max(c.period_end) FROM usage_counters c WHERE c.customer_pk = t.customer_pk "
            "AND c.feature_id = t.feature_id AND c.resource_key = t.resource_key "
            f"AND c.period_start = t.period_start), '{NO_PERIOD_END}')"
        )
        op.alter_column(table, "period_end", nullable=False)
        op.drop_constraint(f"{table}_pkey", table, type_="primary")
        op.create_primary_key(f"{table}_pkey", table, [*KEY, "period_end", last])


def downgrade() -> None:
    for table, last in (("usage_unique_values", "value"),
                        ("usage_threshold_crossings", "threshold")):
        op.drop_constraint(f"{table}_pkey", table, type_="primary")
        # Rows of periods that shared a start collapse into one (the longest period's).
        op.execute(
            f"DELETE FROM {table} t USING {table} o WHERE o.customer_pk = t.customer_pk "
            "AND o.feature_id = t.feature_id AND o.resource_key = t.resource_key "
            f"AND o.period_start = t.period_start AND o.{last} = t.{last} "
            "AND o.period_end > t.period_end"
        )
        op.create_primary_key(f"{table}_pkey", table, [*KEY, last])
        op.drop_column(table, "period_end")
    op.drop_constraint("usage_counters_pkey", "usage_counters", type_="primary")
    op.execute(
        "DELETE FROM usage_counters t USING usage_counters o WHERE o.customer_pk = t.customer_pk "
        "AND o.feature_id = t.feature_id AND o.resource_key = t.resource_key "
        "AND o.period_start = t.period_start AND o.period_end > t.period_end"
    )
    op.create_primary_key("usage_counters_pkey", "usage_counters", KEY)
    op.alter_column("usage_counters", "period_end", nullable=True)
    op.execute(f"UPDATE usage_counters SET period_end = NULL WHERE period_end = '{NO_PERIOD_END}'")
