"""customer tokens: the environment setting that requires them for client keys, and the
record of each token minted (its audit trail)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 15:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "environments",
        sa.Column(
            "require_customer_tokens", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )
    op.create_table(
        "customer_tokens",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("environment_pk", sa.Uuid(), nullable=False),
        sa.Column("customer_pk", sa.Uuid(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["environment_pk"], ["environments.pk"]),
        sa.ForeignKeyConstraint(["customer_pk"], ["customers.pk"]),
        sa.PrimaryKeyConstraint("id"),
        # As every timestamp column since 0010: never ±infinity.
        sa.CheckConstraint('isfinite("expires_at")', name="ck_customer_tokens_expires_at_finite"),
        sa.CheckConstraint('isfinite("created_at")', name="ck_customer_tokens_created_at_finite"),
    )
    op.create_index("ix_customer_tokens_environment_pk", "customer_tokens", ["environment_pk"])
    op.create_index("ix_customer_tokens_customer_pk", "customer_tokens", ["customer_pk"])


def downgrade() -> None:
    op.drop_index("ix_customer_tokens_customer_pk", table_name="customer_tokens")
    op.drop_index("ix_customer_tokens_environment_pk", table_name="customer_tokens")
    op.drop_table("customer_tokens")
    op.drop_column("environments", "require_customer_tokens")
