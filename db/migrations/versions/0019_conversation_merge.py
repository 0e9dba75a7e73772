"""conversation merge: a merged conversation points to the one it was merged into

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # A batch rebuild would lose the table's expression indexes: SQLite adds a referencing column in place.
        op.execute(
            "ALTER TABLE conversations ADD COLUMN merged_into_id INTEGER "
            "CONSTRAINT fk_conversations_merged_into_id_conversations REFERENCES conversations (id) ON DELETE SET NULL"
        )
        return
    op.add_column("conversations", sa.Column("merged_into_id", BigID, nullable=True))
    op.create_foreign_key(
        op.f("fk_conversations_merged_into_id_conversations"),
        "conversations",
        "conversations",
        ["merged_into_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("conversations") as batch:
            batch.drop_column("merged_into_id")
        return
    op.drop_constraint(op.f("fk_conversations_merged_into_id_conversations"), "conversations", type_="foreignkey")
    op.drop_column("conversations", "merged_into_id")
