"""conversation merge: a merged conversation points to the one it was merged into

Revision ID: 0020
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0017"
branch_labels = None
depends_on = None

BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Batch mode: SQLite rebuilds the table to add the foreign key; PostgreSQL alters it in place.
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("merged_into_id", BigID, nullable=True))
        batch.create_foreign_key(
            batch.f("fk_conversations_merged_into_id_conversations"),
            "conversations",
            ["merged_into_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint(batch.f("fk_conversations_merged_into_id_conversations"), type_="foreignkey")
        batch.drop_column("merged_into_id")
