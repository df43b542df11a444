"""event payload hashes (a reused event key is an error), prorated invoices, customer
billing details

Revision ID: 0014
Revises: 0009
Create Date: 2026-12-03 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Events stored before this have no hash: a repeat of their key counts as a duplicate.
    op.add_column(
        "usage_events", sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("usage_events", "request_hash")
