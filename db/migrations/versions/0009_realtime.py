"""real-time: events addressed to one user (notifications, export results)

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(
            sa.Column("recipient_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
    op.create_index("ix_events_recipient", "events", ["account_id", "recipient_user_id", "position"])


def downgrade() -> None:
    op.drop_index("ix_events_recipient", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("recipient_user_id")
