"""audit log and provisioning idempotency keys

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("subscriptions", sa.Column("trial_ending_notified_at",
                                             sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("environment_pk", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_key_pk", sa.Uuid(), nullable=True),
        sa.Column("actor_kind", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("operation", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("entity_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("entity_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("before", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
                  nullable=True),
        sa.Column("after", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
                  nullable=True),
        sa.ForeignKeyConstraint(["environment_pk"], ["environments.pk"]),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_audit_env_entity", "audit_log",
                    ["environment_pk", "entity_type", "entity_id"], unique=False)
    op.create_index("ix_audit_env_seq", "audit_log", ["environment_pk", "seq"], unique=False)
    op.create_table(
        "provisioning_keys",
        sa.Column("environment_pk", sa.Uuid(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("operation", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("response", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
                  nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["environment_pk"], ["environments.pk"]),
        sa.PrimaryKeyConstraint("environment_pk", "key"),
    )


def downgrade() -> None:
    op.drop_column("subscriptions", "trial_ending_notified_at")
    op.drop_table("provisioning_keys")
    op.drop_index("ix_audit_env_seq", table_name="audit_log")
    op.drop_index("ix_audit_env_entity", table_name="audit_log")
    op.drop_table("audit_log")
