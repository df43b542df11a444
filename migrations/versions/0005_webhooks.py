"""webhooks: endpoints, outbox events, deliveries, attempts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AutoString = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("pk", sa.Uuid(), nullable=False),
        sa.Column("environment_pk", sa.Uuid(), nullable=False),
        sa.Column("url", AutoString(), nullable=False),
        sa.Column("description", AutoString(), nullable=True),
        sa.Column("event_types", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("secret", AutoString(), nullable=False),
        sa.Column("previous_secret", AutoString(), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["environment_pk"], ["environments.pk"]),
        sa.PrimaryKeyConstraint("pk"),
    )
    op.create_index(
        "ix_webhook_endpoints_env_created",
        "webhook_endpoints",
        ["environment_pk", "created_at"],
        unique=False,
    )
    op.create_table(
        "webhook_events",
        sa.Column("pk", sa.Uuid(), nullable=False),
        sa.Column("environment_pk", sa.Uuid(), nullable=False),
        sa.Column("type", AutoString(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["environment_pk"], ["environments.pk"]),
        sa.PrimaryKeyConstraint("pk"),
    )
    op.create_index(
        op.f("ix_webhook_events_environment_pk"),
        "webhook_events",
        ["environment_pk"],
        unique=False,
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("pk", sa.Uuid(), nullable=False),
        sa.Column("environment_pk", sa.Uuid(), nullable=False),
        sa.Column("endpoint_pk", sa.Uuid(), nullable=False),
        sa.Column("event_pk", sa.Uuid(), nullable=False),
        sa.Column("status", AutoString(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.Uuid(), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["endpoint_pk"], ["webhook_endpoints.pk"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["environment_pk"], ["environments.pk"]),
        sa.ForeignKeyConstraint(["event_pk"], ["webhook_events.pk"]),
        sa.PrimaryKeyConstraint("pk"),
    )
    op.create_index(
        "ix_webhook_deliveries_env_created",
        "webhook_deliveries",
        ["environment_pk", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint", "webhook_deliveries", ["endpoint_pk"], unique=False
    )
    op.create_index("ix_webhook_deliveries_event", "webhook_deliveries", ["event_pk"], unique=False)
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("pk", sa.Uuid(), nullable=False),
        sa.Column("delivery_pk", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["delivery_pk"], ["webhook_deliveries.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk"),
    )
    op.create_index(
        "ix_webhook_attempts_delivery",
        "webhook_attempts",
        ["delivery_pk", "sequence", "number"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_attempts_delivery", table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    op.drop_index(
        "ix_webhook_deliveries_due",
        table_name="webhook_deliveries",
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.drop_index("ix_webhook_deliveries_event", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_endpoint", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_env_created", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index(op.f("ix_webhook_events_environment_pk"), table_name="webhook_events")
    op.drop_table("webhook_events")
    op.drop_index("ix_webhook_endpoints_env_created", table_name="webhook_endpoints")
    op.drop_table("webhook_endpoints")
