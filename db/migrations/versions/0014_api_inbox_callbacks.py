"""an API inbox's callback URL is delivered as a webhook of its own (`webhooks.inbox_callback`)

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


def upgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("inbox_callback", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    op.execute("DELETE FROM webhooks WHERE inbox_callback")
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_column("inbox_callback")
