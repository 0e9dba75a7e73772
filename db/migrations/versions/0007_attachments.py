"""attachment uploads and storage: upload status and uploader

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("attachments") as batch:
        # Rows from before uploads existed are on messages: attached.
        batch.add_column(
            sa.Column(
                "status",
                sa.Enum(
                    "pending",
                    "attached",
                    name="attachment_status",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                server_default="attached",
                nullable=False,
            )
        )
        batch.add_column(sa.Column("uploader_user_id", BigID, nullable=True))
        batch.add_column(sa.Column("uploader_contact_id", BigID, nullable=True))
        batch.create_foreign_key(
            op.f("fk_attachments_uploader_user_id_users"), "users", ["uploader_user_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_foreign_key(
            op.f("fk_attachments_uploader_contact_id_contacts"),
            "contacts",
            ["uploader_contact_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("attachments") as batch:
        batch.drop_constraint(op.f("fk_attachments_uploader_contact_id_contacts"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_attachments_uploader_user_id_users"), type_="foreignkey")
        batch.drop_column("uploader_contact_id")
        batch.drop_column("uploader_user_id")
        batch.drop_constraint(op.f("ck_attachments_attachment_status"), type_="check")
        batch.drop_column("status")
