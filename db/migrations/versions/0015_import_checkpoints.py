"""imports from Chatwoot: checkpoints per source table, the source-to-Parley id map, skipped rows

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "import_checkpoints",
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("source_table", sa.String(64), nullable=False),
        sa.Column("last_source_id", sa.BigInteger(), nullable=False),
        sa.Column("rows_read", BigID, nullable=False),
        sa.Column("rows_imported", BigID, nullable=False),
        sa.Column("rows_skipped", BigID, nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "scope", "source_table", name=op.f("pk_import_checkpoints")),
    )
    op.create_table(
        "import_id_map",
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("source_table", sa.String(64), nullable=False),
        sa.Column("source_id", sa.BigInteger(), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", BigID, nullable=True),
        sa.Column("created", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_import_id_map_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("source", "source_table", "source_id", name=op.f("pk_import_id_map")),
    )
    op.create_index("ix_import_id_map_account", "import_id_map", ["account_id", "source_table"])
    op.create_index("ix_import_id_map_target", "import_id_map", ["source", "source_table", "target_id"])
    op.create_table(
        "import_skips",
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("source_table", sa.String(64), nullable=False),
        sa.Column("source_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("source", "source_table", "source_id", name=op.f("pk_import_skips")),
    )


def downgrade() -> None:
    op.drop_table("import_skips")
    op.drop_index("ix_import_id_map_target", table_name="import_id_map")
    op.drop_index("ix_import_id_map_account", table_name="import_id_map")
    op.drop_table("import_id_map")
    op.drop_table("import_checkpoints")
