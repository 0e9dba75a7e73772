"""inbound emails: every email received through a door, with its parse result and error; messages
found by Message-ID within an inbox (threading); the IMAP mailboxes polled for email inboxes, with their checkpoints

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
SOURCES = ("http", "smtp", "imap")
STATUSES = ("processed", "auto_reply", "bounce", "duplicate", "loop", "rejected", "failed")


def upgrade() -> None:
    op.create_table(
        "inbound_emails",
        sa.Column("id", BigID, primary_key=True, autoincrement=True),
        sa.Column("account_id", BigID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
        sa.Column("inbox_id", BigID, sa.ForeignKey("inboxes.id", ondelete="CASCADE"), nullable=True),
        sa.Column("conversation_id", BigID, sa.ForeignKey("conversations.id", ondelete="SET NULL"), nullable=True),
        sa.Column("message_id", BigID, sa.ForeignKey("messages.id", ondelete="SET NULL"), nullable=True),
        sa.Column(
            "source",
            sa.Enum(*SOURCES, name="inbound_source", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(*STATUSES, name="inbound_status", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("rfc_message_id", sa.String(998), nullable=False, server_default=""),
        sa.Column("from_address", sa.String(320), nullable=False, server_default=""),
        sa.Column("subject", sa.Text(), nullable=False, server_default=""),
        sa.Column("byte_size", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("error", sa.Text(), nullable=False, server_default=""),
        sa.Column("parse_result", JSONType, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_inbound_emails_account", "inbound_emails", ["account_id", "id"])
    op.create_index(
        "uq_inbound_emails_processed",
        "inbound_emails",
        ["inbox_id", "rfc_message_id"],
        unique=True,
        postgresql_where=sa.text("status = 'processed'"),
        sqlite_where=sa.text("status = 'processed'"),
    )

    op.create_index("ix_messages_inbox_source", "messages", ["inbox_id", "source_id"])
    op.create_table(
        "inbox_imap",
        sa.Column("inbox_id", BigID, sa.ForeignKey("inboxes.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("account_id", BigID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("ssl", sa.Boolean(), nullable=False),
        sa.Column("username", sa.String(320), nullable=False),
        sa.Column("password_encrypted", sa.Text(), nullable=False),
        sa.Column("password_key_id", sa.String(32), nullable=False),
        sa.Column("mailbox", sa.String(255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("polling_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_inbox_imap_account_id", "inbox_imap", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_inbox_imap_account_id", table_name="inbox_imap")
    op.drop_table("inbox_imap")
    op.drop_index("ix_messages_inbox_source", table_name="messages")
    op.drop_index("uq_inbound_emails_processed", table_name="inbound_emails")
    op.drop_index("ix_inbound_emails_account", table_name="inbound_emails")
    op.drop_table("inbound_emails")
