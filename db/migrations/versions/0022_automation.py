"""automation: rules run on conversation and message events, their runs, and macros

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _account(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"], ["accounts.id"], name=op.f(f"fk_{table}_account_id_accounts"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "automation_rules",
        sa.Column("id", BigID, autoincrement=True, nullable=False),
        sa.Column("account_id", BigID, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("event_name", sa.String(32), nullable=False),
        sa.Column("conditions", JSONType, nullable=False),
        sa.Column("actions", JSONType, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _account("automation_rules"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_rules")),
    )
    op.create_index("ix_automation_rules_account_id", "automation_rules", ["account_id"])
    op.create_table(
        "automation_runs",
        sa.Column("id", BigID, autoincrement=True, nullable=False),
        sa.Column("account_id", BigID, nullable=False),
        sa.Column("rule_id", BigID, nullable=False),
        sa.Column("event_id", BigID, nullable=False),
        sa.Column("conversation_id", BigID, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("actions_done", JSONType, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _account("automation_runs"),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["automation_rules.id"],
            name=op.f("fk_automation_runs_rule_id_automation_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_runs")),
        sa.UniqueConstraint("rule_id", "event_id", name="uq_automation_runs_rule_event"),
    )
    op.create_index("ix_automation_runs_rule", "automation_runs", ["rule_id", "id"])
    op.create_index("ix_automation_runs_conversation", "automation_runs", ["conversation_id", "created_at"])
    op.create_table(
        "macros",
        sa.Column("id", BigID, autoincrement=True, nullable=False),
        sa.Column("account_id", BigID, nullable=False),
        sa.Column("owner_user_id", BigID, nullable=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("actions", JSONType, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _account("macros"),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name=op.f("fk_macros_owner_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_macros")),
    )
    op.create_index("ix_macros_account_id", "macros", ["account_id"])
    op.create_index("ix_macros_owner_user_id", "macros", ["owner_user_id"])


def downgrade() -> None:
    op.drop_table("macros")
    op.drop_table("automation_runs")
    op.drop_table("automation_rules")
