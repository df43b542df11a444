"""users: passwords and roles, login sessions, invitations, and the user of an audit entry

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 23:30:00

`users` existed since 0001 without any code writing it: it gains an Argon2 password hash, a
role (admin | member), disabled_at and last_login_at. Emails are stored lower-cased (the
unique constraint on (account_pk, email) is so case-insensitive). Sessions and invitations
keep SHA-256 hashes of their tokens only. `audit_log.actor_user_pk` names the user of a
console session (actor kind `user`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _finite(table: str, column: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(f'isfinite("{column}")', name=f"ck_{table}_{column}_finite")


def upgrade() -> None:
    # No code wrote users before: any row there has no password, so none can log in; the
    # table is emptied rather than given made-up hashes.
    op.execute("DELETE FROM users")
    op.add_column("users", sa.Column("password_hash", sa.String(), nullable=False))
    op.add_column("users", sa.Column("role", sa.String(), nullable=False, server_default="member"))
    op.add_column("users", sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "users", sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_check_constraint("ck_users_role", "users", "role IN ('admin', 'member')")
    op.create_check_constraint("ck_users_email_lower", "users", "email = lower(email)")
    for column in ("disabled_at", "last_login_at", "password_changed_at"):
        op.create_check_constraint(f"ck_users_{column}_finite", "users", f'isfinite("{column}")')
    op.create_table(
        "user_sessions",
        sa.Column("pk", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("user_pk", sa.Uuid(), nullable=False),
        sa.Column("csrf_token", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_pk"], ["users.pk"]),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("token_hash"),
        _finite("user_sessions", "created_at"),
        _finite("user_sessions", "last_seen_at"),
        _finite("user_sessions", "expires_at"),
    )
    op.create_index("ix_user_sessions_user_pk", "user_sessions", ["user_pk"])
    op.create_table(
        "user_invitations",
        sa.Column("pk", sa.Uuid(), nullable=False),
        sa.Column("account_pk", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("invited_by_pk", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_pk"], ["accounts.pk"]),
        sa.ForeignKeyConstraint(["invited_by_pk"], ["users.pk"]),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("token_hash"),
        sa.CheckConstraint("role IN ('admin', 'member')", name="ck_user_invitations_role"),
        _finite("user_invitations", "created_at"),
        _finite("user_invitations", "expires_at"),
        _finite("user_invitations", "accepted_at"),
    )
    op.create_index("ix_user_invitations_account_pk", "user_invitations", ["account_pk"])
    op.add_column("audit_log", sa.Column("actor_user_pk", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        "audit_log_actor_user_pk_fkey", "audit_log", "users", ["actor_user_pk"], ["pk"]
    )


def downgrade() -> None:
    op.drop_constraint("audit_log_actor_user_pk_fkey", "audit_log", type_="foreignkey")
    op.drop_column("audit_log", "actor_user_pk")
    op.drop_index("ix_user_invitations_account_pk", table_name="user_invitations")
    op.drop_table("user_invitations")
    op.drop_index("ix_user_sessions_user_pk", table_name="user_sessions")
    op.drop_table("user_sessions")
    for name in (
        "ck_users_password_changed_at_finite",
        "ck_users_last_login_at_finite",
        "ck_users_disabled_at_finite",
        "ck_users_email_lower",
        "ck_users_role",
    ):
        op.drop_constraint(name, "users", type_="check")
    op.drop_column("users", "password_changed_at")
    op.drop_column("users", "last_login_at")
    op.drop_column("users", "disabled_at")
    op.drop_column("users", "role")
    op.drop_column("users", "password_hash")
