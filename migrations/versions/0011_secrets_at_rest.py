"""secrets at rest: encrypt webhook and invoice-link secrets, add the secret-key check

Revision ID: 0011
Revises: 0014
Create Date: 2026-12-03 08:00:00

Existing plaintext secrets are encrypted under the installation's secret key
(ALLOT_SECRET_KEY, or the data directory's key file: app/secrets_at_rest.py), and a check
token is stored so a process with another key refuses to start. The downgrade decrypts them.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app import secrets_at_rest

revision: str = "0011"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, key column, secret columns): what app.store.secrets.ENCRYPTED_COLUMNS says today.
COLUMNS = (
    ("webhook_endpoints", "pk", ("secret", "previous_secret")),
    ("billing_settings", "environment_pk", ("link_secret",)),
)


def _convert(change: Callable[[str], str]) -> None:
    connection = op.get_bind()
    for table, key, columns in COLUMNS:
        rows = connection.execute(sa.text(f"SELECT {key}, {', '.join(columns)} FROM {table}"))
        for row in rows.all():
            values = {c: change(row[i + 1]) for i, c in enumerate(columns) if row[i + 1]}
            if values:
                assignments = ", ".join(f"{c} = :{c}" for c in values)
                connection.execute(
                    sa.text(f"UPDATE {table} SET {assignments} WHERE {key} = :key"),
                    {**values, "key": row[0]},
                )


def upgrade() -> None:
    op.create_table(
        "secret_key_check",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
        # As every timestamp column since 0010: never ±infinity.
        sa.CheckConstraint('isfinite("updated_at")', name="ck_secret_key_check_updated_at_finite"),
    )
    keyring = secrets_at_rest.current()
    _convert(keyring.encrypt)
    op.execute(
        sa.text(
            "INSERT INTO secret_key_check (name, token, updated_at) VALUES (:n, :t, :at)"
        ).bindparams(n=secrets_at_rest.CHECK_NAME, t=keyring.check_token(), at=datetime.now(UTC))
    )


def downgrade() -> None:
    _convert(secrets_at_rest.current().decrypt)
    op.drop_table("secret_key_check")
