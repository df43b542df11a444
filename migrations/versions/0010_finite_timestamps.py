"""every timestamp column finite: repair ±infinity rows, then CHECK (isfinite(col))

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 07:50:00

PostgreSQL turned out-of-range inputs (year 1, 9999-12-31T23:59:59.999999) into
`-infinity`/`infinity`, which Python cannot read: every read of the row failed and the
background jobs failed for every environment. The DateTime scalar now refuses such inputs;
these constraints make sure no path (SQL, a future bug) can store them again.

Repair rule for rows already holding them (docs/security.md, "Input limits"):
* `-infinity` becomes the row's `created_at` when the table has a finite one (a start "since
  ever" is taken as "since it was recorded"), else 1970-01-01T00:00:00Z;
* `infinity` becomes NULL when the column is nullable (no end), else 2200-01-01T00:00:00Z.

The columns are found in information_schema, so every timestamp column of the schema is
covered; a later migration adding one should add its CHECK the same way (`finite_check`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EARLIEST = "1970-01-01T00:00:00+00:00"
LATEST = "2200-01-01T00:00:00+00:00"
TYPES = ("timestamp with time zone", "timestamp without time zone", "date")


def constraint_name(table: str, column: str) -> str:
    return f"ck_{table}_{column}_finite"[:63]


def _columns() -> list[tuple[str, str, bool, str]]:
    rows = op.get_bind().execute(
        sa.text(
            "SELECT table_name, column_name, is_nullable = 'YES', data_type "
            "FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type = ANY(:types) "
            "AND table_name IN (SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE') "
            "ORDER BY table_name, column_name"
        ),
        {"types": list(TYPES)},
    )
    return [(r[0], r[1], bool(r[2]), r[3]) for r in rows]


def repair_sql(
    table: str, column: str, nullable: bool, data_type: str, has_created_at: bool
) -> str:
    """The UPDATE that replaces ±infinity in one column by the repair rule."""
    earliest = f"'{EARLIEST}'::timestamptz"
    if has_created_at and column != "created_at":
        earliest = f"CASE WHEN isfinite(created_at) THEN created_at ELSE {earliest} END"
    latest = "NULL" if nullable else f"'{LATEST}'::timestamptz"
    return (
        f'UPDATE "{table}" SET "{column}" = CAST(CASE WHEN "{column}" < \'{EARLIEST}\' '
        f'THEN {earliest} ELSE {latest} END AS {data_type}) WHERE NOT isfinite("{column}")'
    )


def finite_check(table: str, column: str) -> None:
    op.create_check_constraint(constraint_name(table, column), table, f'isfinite("{column}")')


def upgrade() -> None:
    columns = _columns()
    with_created_at = {t for t, c, _, _ in columns if c == "created_at"}
    # created_at first: the other columns' repair may read it.
    ordered = sorted(columns, key=lambda item: item[1] != "created_at")
    for table, column, nullable, data_type in ordered:
        op.execute(repair_sql(table, column, nullable, data_type, table in with_created_at))
    for table, column, _, _ in columns:
        finite_check(table, column)


def downgrade() -> None:
    for table, column, _, _ in _columns():
        op.drop_constraint(constraint_name(table, column), table, type_="check")
