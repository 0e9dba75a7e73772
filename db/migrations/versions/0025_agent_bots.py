"""agent bots: a bot has an outgoing URL (delivered as a webhook of its own, `webhooks.bot_id`) and
answers the inboxes connected to it (`inboxes.bot_id`, one bot per inbox)

Revision ID: 0025
Revises: 0029
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0029"
branch_labels = None
depends_on = None

BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("bots") as batch:
        batch.add_column(sa.Column("outgoing_url", sa.String(2048), nullable=True))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("inboxes") as batch:
        batch.add_column(sa.Column("bot_id", BigID, nullable=True))
        batch.create_foreign_key("fk_inboxes_bot_id_bots", "bots", ["bot_id"], ["id"], ondelete="SET NULL")
        batch.create_index("ix_inboxes_bot_id", ["bot_id"])
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("bot_id", BigID, nullable=True))
        batch.create_foreign_key("fk_webhooks_bot_id_bots", "bots", ["bot_id"], ["id"], ondelete="CASCADE")
        batch.create_index("ix_webhooks_bot_id", ["bot_id"])


def downgrade() -> None:
    op.execute("DELETE FROM webhooks WHERE bot_id IS NOT NULL")
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_index("ix_webhooks_bot_id")
        batch.drop_constraint("fk_webhooks_bot_id_bots", type_="foreignkey")
        batch.drop_column("bot_id")
    with op.batch_alter_table("inboxes") as batch:
        batch.drop_index("ix_inboxes_bot_id")
        batch.drop_constraint("fk_inboxes_bot_id_bots", type_="foreignkey")
        batch.drop_column("bot_id")
    with op.batch_alter_table("bots") as batch:
        batch.drop_column("updated_at")
        batch.drop_column("outgoing_url")
