"""reporting events and daily roll-ups

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"], ["accounts.id"], name=op.f(f"fk_{table}_account_id_accounts"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "reporting_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("source_event_id", ID, nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("value_in_business_hours", sa.Float(), nullable=False),
        sa.Column("conversation_id", ID, nullable=True),
        sa.Column("inbox_id", ID, nullable=True),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("team_id", ID, nullable=True),
        sa.Column("event_start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _account_fk("reporting_events"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reporting_events")),
        sa.UniqueConstraint("source_event_id", "name", name=op.f("uq_reporting_events_source_event_id_name")),
    )
    op.create_index(
        "ix_reporting_events_account_name_end",
        "reporting_events",
        ["account_id", "name", "event_end_time"],
        unique=False,
        postgresql_include=["value", "value_in_business_hours", "user_id", "inbox_id", "team_id"],
    )
    op.create_index("ix_reporting_events_conversation", "reporting_events", ["conversation_id"], unique=False)
    op.create_table(
        "reporting_rollups",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("dimension_type", sa.String(length=16), nullable=False),
        sa.Column("dimension_id", ID, nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("count", ID, nullable=False),
        sa.Column("sum_value", sa.Float(), nullable=False),
        sa.Column("sum_value_business_hours", sa.Float(), nullable=False),
        _account_fk("reporting_rollups"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reporting_rollups")),
        sa.UniqueConstraint(
            "account_id",
            "dimension_type",
            "dimension_id",
            "name",
            "day",
            name=op.f("uq_reporting_rollups_account_id_dimension_type_dimension_id_name_day"),
        ),
    )
    op.create_table(
        "csat_responses",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=True),
        sa.Column("assignee_id", ID, nullable=True),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("feedback", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _account_fk("csat_responses"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_csat_responses_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_csat_responses_contact_id_contacts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name=op.f("fk_csat_responses_assignee_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csat_responses")),
    )
    op.create_index("ix_csat_responses_account_created", "csat_responses", ["account_id", "created_at"], unique=False)
    op.create_index("ix_csat_responses_conversation", "csat_responses", ["conversation_id"], unique=False)
    op.create_table(
        "report_exports",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("requester_id", ID, nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "running",
                "done",
                "failed",
                name="report_export_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=512), nullable=True),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        _account_fk("report_exports"),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["users.id"], name=op.f("fk_report_exports_requester_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_exports")),
    )
    op.create_index("ix_report_exports_account_created", "report_exports", ["account_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_report_exports_account_created", table_name="report_exports")
    op.drop_table("report_exports")
    op.drop_index("ix_csat_responses_conversation", table_name="csat_responses")
    op.drop_index("ix_csat_responses_account_created", table_name="csat_responses")
    op.drop_table("csat_responses")
    op.drop_table("reporting_rollups")
    op.drop_index("ix_reporting_events_conversation", table_name="reporting_events")
    op.drop_index("ix_reporting_events_account_name_end", table_name="reporting_events")
    op.drop_table("reporting_events")
