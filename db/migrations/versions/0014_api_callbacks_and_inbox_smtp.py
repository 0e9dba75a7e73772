"""an API inbox's callback URL is delivered as a webhook of its own (`webhooks.inbox_callback`); an
email inbox may send its replies through its own SMTP server (`inbox_smtp`)

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("inbox_callback", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "inbox_smtp",
        sa.Column("inbox_id", BigID, sa.ForeignKey("inboxes.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("account_id", BigID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("tls_mode", sa.String(16), nullable=False),
        sa.Column("username", sa.String(320), nullable=False),
        sa.Column("password_encrypted", sa.Text(), nullable=False),
        sa.Column("password_key_id", sa.String(32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_inbox_smtp_account_id", "inbox_smtp", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_inbox_smtp_account_id", table_name="inbox_smtp")
    op.drop_table("inbox_smtp")
    op.execute("DELETE FROM webhooks WHERE inbox_callback")
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_column("inbox_callback")
