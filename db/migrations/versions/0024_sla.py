"""SLA policies, the SLA applied to a conversation, its next deadline on the conversation, the SLA
notification types, and the inbox setting that reassigns an offline agent's conversations

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
OLD_TYPES = (
    "conversation_creation",
    "conversation_assignment",
    "conversation_mention",
    "assigned_conversation_new_message",
    "participating_conversation_new_message",
)
NEW_TYPES = (
    *OLD_TYPES,
    "sla_missed_first_response",
    "sla_missed_next_response",
    "sla_missed_resolution",
    "sla_warning",
)
STATUSES = ("active", "active_with_misses", "hit", "missed")
EMAIL_PENDING = sa.text("email_done_at IS NULL AND email_due_at IS NOT NULL")


def _types_check(types: tuple[str, ...]) -> str:
    return "notification_type IN (" + ", ".join(f"'{t}'" for t in types) + ")"


def _notification_types(types: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite rebuilds the table to change a CHECK; the partial index is made again after it.
        op.drop_index("ix_notifications_email_pending", table_name="notifications")
        with op.batch_alter_table("notifications", recreate="always") as batch:
            batch.drop_constraint(op.f("ck_notifications_notification_type"), type_="check")
            batch.create_check_constraint("notification_type", sa.text(_types_check(types)))
        op.create_index(
            "ix_notifications_email_pending",
            "notifications",
            ["email_due_at"],
            unique=False,
            sqlite_where=EMAIL_PENDING,
        )
        return
    op.drop_constraint(op.f("ck_notifications_notification_type"), "notifications", type_="check")
    op.create_check_constraint("notification_type", "notifications", sa.text(_types_check(types)))


def upgrade() -> None:
    op.create_table(
        "sla_policies",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("first_response_seconds", sa.Integer(), nullable=True),
        sa.Column("next_response_seconds", sa.Integer(), nullable=True),
        sa.Column("resolution_seconds", sa.Integer(), nullable=True),
        sa.Column("business_hours_only", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_sla_policies_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policies")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_sla_policies_account_id_name")),
    )
    op.create_table(
        "applied_slas",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("sla_policy_id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column(
            "status",
            sa.Enum(*STATUSES, name="sla_status", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("first_response_due_at", TS, nullable=True),
        sa.Column("first_response_warn_at", TS, nullable=True),
        sa.Column("first_response_missed", sa.Boolean(), nullable=False),
        sa.Column("next_response_due_at", TS, nullable=True),
        sa.Column("next_response_warn_at", TS, nullable=True),
        sa.Column("next_response_missed", sa.Boolean(), nullable=False),
        sa.Column("resolution_due_at", TS, nullable=True),
        sa.Column("resolution_warn_at", TS, nullable=True),
        sa.Column("resolution_missed", sa.Boolean(), nullable=False),
        sa.Column("check_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_applied_slas_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["sla_policy_id"],
            ["sla_policies.id"],
            name=op.f("fk_applied_slas_sla_policy_id_sla_policies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_applied_slas_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applied_slas")),
        sa.UniqueConstraint("conversation_id", name=op.f("uq_applied_slas_conversation_id")),
    )
    op.create_index("ix_applied_slas_check_at", "applied_slas", ["check_at"], unique=False)
    op.create_index(
        "ix_applied_slas_policy", "applied_slas", ["account_id", "sla_policy_id", "created_at"], unique=False
    )
    if op.get_bind().dialect.name == "sqlite":
        # A batch rebuild would lose the table's expression indexes: SQLite adds columns in place.
        op.execute(
            "ALTER TABLE conversations ADD COLUMN sla_policy_id INTEGER "
            "CONSTRAINT fk_conversations_sla_policy_id_sla_policies REFERENCES sla_policies (id) ON DELETE SET NULL"
        )
        op.execute("ALTER TABLE conversations ADD COLUMN sla_due_at DATETIME")
        op.execute("ALTER TABLE inboxes ADD COLUMN reassign_offline_after_seconds INTEGER")
    else:
        op.add_column("conversations", sa.Column("sla_policy_id", ID, nullable=True))
        op.create_foreign_key(
            op.f("fk_conversations_sla_policy_id_sla_policies"),
            "conversations",
            "sla_policies",
            ["sla_policy_id"],
            ["id"],
            ondelete="SET NULL",
        )
        op.add_column("conversations", sa.Column("sla_due_at", TS, nullable=True))
        op.add_column("inboxes", sa.Column("reassign_offline_after_seconds", sa.Integer(), nullable=True))
    op.create_index("ix_conversations_sla_due", "conversations", ["account_id", "sla_due_at"], unique=False)
    _notification_types(NEW_TYPES)


def downgrade() -> None:
    op.execute(
        "DELETE FROM notifications WHERE notification_type IN "
        "('sla_missed_first_response', 'sla_missed_next_response', 'sla_missed_resolution', 'sla_warning')"
    )
    _notification_types(OLD_TYPES)
    op.drop_index("ix_conversations_sla_due", table_name="conversations")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE inboxes DROP COLUMN reassign_offline_after_seconds")
        op.execute("ALTER TABLE conversations DROP COLUMN sla_due_at")
        with op.batch_alter_table("conversations") as batch:
            batch.drop_column("sla_policy_id")
    else:
        op.drop_column("inboxes", "reassign_offline_after_seconds")
        op.drop_column("conversations", "sla_due_at")
        op.drop_constraint(op.f("fk_conversations_sla_policy_id_sla_policies"), "conversations", type_="foreignkey")
        op.drop_column("conversations", "sla_policy_id")
    op.drop_index("ix_applied_slas_policy", table_name="applied_slas")
    op.drop_index("ix_applied_slas_check_at", table_name="applied_slas")
    op.drop_table("applied_slas")
    op.drop_table("sla_policies")
