"""account security: email verification of sign-ups, invitations pending until accepted

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild on SQLite, which would lose the lower(email) index).
    # Everyone already there keeps signing in as before: existing users count as verified.
    op.add_column("users", sa.Column("email_verified", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column("users", sa.Column("email_verification_hash", sa.String(64), nullable=True))
    op.add_column("users", sa.Column("email_verification_expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("uq_users_email_verification_hash", "users", ["email_verification_hash"], unique=True)
    op.create_table(
        "invitations",
        sa.Column("id", BigID, nullable=False),
        sa.Column("account_id", BigID, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "administrator", "agent", name="invitation_role", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column("custom_role_id", BigID, nullable=True),
        sa.Column("inviter_id", BigID, nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("declined_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_invitations_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["custom_role_id"],
            ["custom_roles.id"],
            name=op.f("fk_invitations_custom_role_id_custom_roles"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["inviter_id"], ["users.id"], name=op.f("fk_invitations_inviter_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    op.create_index("ix_invitations_account_email", "invitations", ["account_id", "email"])
    op.create_index(op.f("ix_invitations_email"), "invitations", ["email"])


def downgrade() -> None:
    op.drop_index(op.f("ix_invitations_email"), table_name="invitations")
    op.drop_index("ix_invitations_account_email", table_name="invitations")
    op.drop_table("invitations")
    op.drop_index("uq_users_email_verification_hash", table_name="users")
    # SQLite rebuilds the table to drop columns and would lose the expression index: set it aside.
    op.drop_index("uq_users_email_lower", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email_verification_expires_at")
        batch.drop_column("email_verification_hash")
        batch.drop_column("email_verified")
    op.create_index("uq_users_email_lower", "users", [sa.literal_column("lower(email)")], unique=True)
