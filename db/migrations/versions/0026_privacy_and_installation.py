"""privacy and the installation: contact data exports, erased contacts, retention and feature limits per
account, installation-wide settings, and installation audit rows without an account

Revision ID: 0026
Revises: 0024
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0026"
down_revision = "0024"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_ACCOUNT_COLUMNS = ("max_agents", "max_inboxes", "retention_message_days", "retention_attachment_days")


def upgrade() -> None:
    # Plain ALTERs (SQLite 3.35+ adds and drops columns in place): rebuilding `contacts` in batch mode
    # would lose its expression indexes (unique lower(email)).
    for name in _ACCOUNT_COLUMNS:
        op.add_column("accounts", sa.Column(name, sa.Integer(), nullable=True))
    op.add_column("contacts", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("audit_logs") as batch:
        batch.alter_column("account_id", existing_type=ID, nullable=True)
    op.create_table(
        "installation_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_installation_settings")),
    )
    op.create_table(
        "contact_data_exports",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=True),
        sa.Column("requester_id", ID, nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "done",
                "failed",
                name="contact_data_export_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("storage_key", sa.String(length=512), nullable=True),
        sa.Column("byte_size", ID, nullable=False),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_contact_data_exports_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_data_exports_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["users.id"], name=op.f("fk_contact_data_exports_requester_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_data_exports")),
    )
    op.create_index(
        "ix_contact_data_exports_account_created", "contact_data_exports", ["account_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_contact_data_exports_account_created", table_name="contact_data_exports")
    op.drop_table("contact_data_exports")
    op.drop_table("installation_settings")
    op.execute("DELETE FROM audit_logs WHERE account_id IS NULL")
    with op.batch_alter_table("audit_logs") as batch:
        batch.alter_column("account_id", existing_type=ID, nullable=False)
    op.drop_column("contacts", "erased_at")
    for name in reversed(_ACCOUNT_COLUMNS):
        op.drop_column("accounts", name)
