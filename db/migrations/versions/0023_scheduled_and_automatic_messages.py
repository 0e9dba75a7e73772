"""scheduled messages, and the inbox setting that sends a CSAT survey on resolve

Revision ID: 0023
Revises: 0025
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0025"
branch_labels = None
depends_on = None

BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "scheduled_messages",
        sa.Column("id", BigID, autoincrement=True, nullable=False),
        sa.Column("account_id", BigID, nullable=False),
        sa.Column("conversation_id", BigID, nullable=False),
        sa.Column("author_id", BigID, nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "sent",
                "cancelled",
                name="scheduled_message_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("message_id", BigID, nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_scheduled_messages_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_scheduled_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_scheduled_messages_author_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_scheduled_messages_message_id_messages"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_messages")),
    )
    op.create_index("ix_scheduled_messages_account_id", "scheduled_messages", ["account_id"])
    op.create_index("ix_scheduled_messages_due", "scheduled_messages", ["status", "send_at"])
    op.create_index("ix_scheduled_messages_conversation", "scheduled_messages", ["conversation_id", "send_at", "id"])
    # In place on SQLite too (a plain ADD COLUMN): a batch rebuild of inboxes is not needed to add one.
    op.add_column("inboxes", sa.Column("csat_survey_enabled", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("inboxes") as batch:
        batch.drop_column("csat_survey_enabled")
    op.drop_table("scheduled_messages")
