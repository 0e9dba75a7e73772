"""contact labels: the account's labels on contacts

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "contact_labels",
        sa.Column("contact_id", BigID, nullable=False),
        sa.Column("label_id", BigID, nullable=False),
        sa.Column("account_id", BigID, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_contact_labels_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_contact_labels_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["label_id"], ["labels.id"], name=op.f("fk_contact_labels_label_id_labels"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("contact_id", "label_id", name=op.f("pk_contact_labels")),
    )
    op.create_index("ix_contact_labels_label_id", "contact_labels", ["label_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_contact_labels_label_id", table_name="contact_labels")
    op.drop_table("contact_labels")
