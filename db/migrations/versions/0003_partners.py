"""partners: partner apps, their tokens and versioned manifests of trusted operations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 20:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "partner_apps",
        sa.Column("id", BigID, nullable=False),
        sa.Column("account_id", BigID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=True),
        sa.Column("created_by_id", BigID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_partner_apps_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_partner_apps_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_apps")),
    )
    op.create_index(op.f("ix_partner_apps_account_id"), "partner_apps", ["account_id"], unique=False)
    op.create_table(
        "partner_tokens",
        sa.Column("id", BigID, nullable=False),
        sa.Column("account_id", BigID, nullable=False),
        sa.Column("partner_app_id", BigID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", BigID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_partner_tokens_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_partner_tokens_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["partner_app_id"],
            ["partner_apps.id"],
            name=op.f("fk_partner_tokens_partner_app_id_partner_apps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_partner_tokens_token_hash")),
    )
    op.create_index(op.f("ix_partner_tokens_account_id"), "partner_tokens", ["account_id"], unique=False)
    op.create_index(op.f("ix_partner_tokens_partner_app_id"), "partner_tokens", ["partner_app_id"], unique=False)
    op.create_table(
        "partner_manifests",
        sa.Column("id", BigID, nullable=False),
        sa.Column("account_id", BigID, nullable=False),
        sa.Column("partner_app_id", BigID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "format",
            sa.Enum(
                "apollo", "relay", name="partner_manifest_format", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column("operation_count", sa.Integer(), nullable=False),
        sa.Column("created_by_id", BigID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_partner_manifests_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_partner_manifests_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["partner_app_id"],
            ["partner_apps.id"],
            name=op.f("fk_partner_manifests_partner_app_id_partner_apps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_manifests")),
        sa.UniqueConstraint("partner_app_id", "version", name=op.f("uq_partner_manifests_partner_app_id_version")),
    )
    op.create_index(op.f("ix_partner_manifests_account_id"), "partner_manifests", ["account_id"], unique=False)
    op.create_table(
        "partner_operations",
        sa.Column("id", BigID, nullable=False),
        sa.Column("manifest_id", BigID, nullable=False),
        sa.Column("document_id", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "query",
                "mutation",
                "subscription",
                name="partner_operation_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["manifest_id"],
            ["partner_manifests.id"],
            name=op.f("fk_partner_operations_manifest_id_partner_manifests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_operations")),
        sa.UniqueConstraint("manifest_id", "document_id", name=op.f("uq_partner_operations_manifest_id_document_id")),
    )
    op.create_index(
        "ix_partner_operations_manifest_id_sha256", "partner_operations", ["manifest_id", "sha256"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_partner_operations_manifest_id_sha256", table_name="partner_operations")
    op.drop_table("partner_operations")
    op.drop_index(op.f("ix_partner_manifests_account_id"), table_name="partner_manifests")
    op.drop_table("partner_manifests")
    op.drop_index(op.f("ix_partner_tokens_partner_app_id"), table_name="partner_tokens")
    op.drop_index(op.f("ix_partner_tokens_account_id"), table_name="partner_tokens")
    op.drop_table("partner_tokens")
    op.drop_index(op.f("ix_partner_apps_account_id"), table_name="partner_apps")
    op.drop_table("partner_apps")
