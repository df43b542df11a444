"""versioned names, and plan versions that bind their parent's version

A plan's ancestors counted at their latest version, so publishing a parent changed the
entitlements of its child plans' existing subscribers. Each plan version now records the
version of its parent it includes. Existing versions are bound to the parent's latest version:
what their subscribers get today.

Names and descriptions are versioned as well (a draft's rename showed at once in the published
plan): every version gets its package's current name and description.

Revision ID: 0013
Revises: 0009
Create Date: 2026-12-03 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("package_versions", sa.Column("name", sa.String(), nullable=True))
    op.add_column("package_versions", sa.Column("description", sa.String(), nullable=True))
    op.execute(
        """
        UPDATE package_versions AS v
           SET name = p.name, description = p.description
          FROM packages AS p
         WHERE v.package_pk = p.pk
        """
    )
    op.alter_column("package_versions", "name", nullable=False)
    op.alter_column("package_versions", "description", nullable=False)
    op.add_column("package_versions", sa.Column("parent_version", sa.Integer(), nullable=True))
    op.execute(
        """
        UPDATE package_versions AS v
           SET parent_version = parent.latest_version
          FROM packages AS child, packages AS parent
         WHERE v.package_pk = child.pk
           AND v.version IS NOT NULL
           AND child.kind = 'PLAN'
           AND parent.environment_pk = child.environment_pk
           AND parent.kind = 'PLAN'
           AND parent.id = v.content->>'parent'
        """
    )


def downgrade() -> None:
    op.drop_column("package_versions", "parent_version")
    op.drop_column("package_versions", "description")
    op.drop_column("package_versions", "name")
