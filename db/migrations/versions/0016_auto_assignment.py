"""auto-assignment: inbox policy and per-agent limit, account-wide limit per member, round-robin order

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inboxes") as batch:
        batch.add_column(
            sa.Column(
                "auto_assignment_policy",
                sa.Enum(
                    "round_robin",
                    "balanced",
                    name="assignment_policy",
                    native_enum=False,
                    create_constraint=False,  # the API checks the value; a CHECK would pin the column on SQLite
                    length=32,
                ),
                nullable=False,
                server_default="round_robin",
            )
        )
        batch.add_column(sa.Column("auto_assignment_limit", sa.Integer(), nullable=True))
    with op.batch_alter_table("inbox_members") as batch:
        batch.add_column(sa.Column("last_assigned_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("account_memberships") as batch:
        batch.add_column(sa.Column("max_open_conversations", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("account_memberships") as batch:
        batch.drop_column("max_open_conversations")
    with op.batch_alter_table("inbox_members") as batch:
        batch.drop_column("last_assigned_at")
    with op.batch_alter_table("inboxes") as batch:
        batch.drop_column("auto_assignment_limit")
        batch.drop_column("auto_assignment_policy")
