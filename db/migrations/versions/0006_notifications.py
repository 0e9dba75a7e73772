"""notifications and notification settings

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
NOTIFICATION_TYPES = (
    "conversation_creation",
    "conversation_assignment",
    "conversation_mention",
    "assigned_conversation_new_message",
    "participating_conversation_new_message",
)
EMAIL_PENDING = sa.text("email_done_at IS NULL AND email_due_at IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column(
            "notification_type",
            sa.Enum(
                *NOTIFICATION_TYPES, name="notification_type", native_enum=False, create_constraint=True, length=48
            ),
            nullable=False,
        ),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("message_id", ID, nullable=True),
        sa.Column("actor_user_id", ID, nullable=True),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("in_app", sa.Boolean(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("email_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("email_done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_notifications_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_notifications_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_notifications_message_id_messages"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["users.id"], name=op.f("fk_notifications_actor_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint(
            "user_id", "event_id", "notification_type", name=op.f("uq_notifications_user_id_event_id_notification_type")
        ),
    )
    op.create_index("ix_notifications_user_account_id", "notifications", ["user_id", "account_id", "id"], unique=False)
    op.create_index("ix_notifications_conversation_id", "notifications", ["conversation_id"], unique=False)
    op.create_index(
        "ix_notifications_email_pending",
        "notifications",
        ["email_due_at"],
        unique=False,
        postgresql_where=EMAIL_PENDING,
        sqlite_where=EMAIL_PENDING,
    )
    op.create_table(
        "notification_settings",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("in_app_types", JSON, nullable=False),
        sa.Column("email_types", JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_notification_settings_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notification_settings_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_settings")),
        sa.UniqueConstraint("account_id", "user_id", name=op.f("uq_notification_settings_account_id_user_id")),
    )
    op.create_index(op.f("ix_notification_settings_user_id"), "notification_settings", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_notification_settings_user_id"), table_name="notification_settings")
    op.drop_table("notification_settings")
    op.drop_index("ix_notifications_email_pending", table_name="notifications")
    op.drop_index("ix_notifications_conversation_id", table_name="notifications")
    op.drop_index("ix_notifications_user_account_id", table_name="notifications")
    op.drop_table("notifications")
