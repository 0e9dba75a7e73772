"""IMAP IDLE: a watcher's lease per mailbox and whether the server pushes new mail

Revision ID: 0029
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox_imap") as batch:
        batch.add_column(sa.Column("idle_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("push", sa.String(16), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("inbox_imap") as batch:
        batch.drop_column("push")
        batch.drop_column("idle_until")
