"""outbox leases (a job is done when its actor finishes, not when it is enqueued) and idempotency keys

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("outbox_jobs") as batch:
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sends", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("dead", sa.Boolean(), server_default=sa.false(), nullable=False))
    # Before: relayed meant done. Those jobs stay done (`sends` 0 marks them: a copy still in the broker
    # runs); the others are due at once.
    op.execute("UPDATE outbox_jobs SET completed_at = relayed_at WHERE relayed_at IS NOT NULL")
    op.execute("UPDATE outbox_jobs SET lease_until = created_at WHERE relayed_at IS NULL")
    op.drop_index("ix_outbox_jobs_pending", table_name="outbox_jobs")
    op.create_index(
        "ix_outbox_jobs_open",
        "outbox_jobs",
        ["lease_until"],
        postgresql_where=sa.text("completed_at IS NULL"),
        sqlite_where=sa.text("completed_at IS NULL"),
    )
    op.create_index("ix_outbox_jobs_completed", "outbox_jobs", ["completed_at"])

    op.create_table(
        "idempotency_keys",
        sa.Column("id", BigID, nullable=False),
        sa.Column("account_id", BigID, nullable=True),
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("operation", sa.String(100), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("result", JSONType, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_idempotency_keys_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("scope", "key", name=op.f("uq_idempotency_keys_scope_key")),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_outbox_jobs_completed", table_name="outbox_jobs")
    op.drop_index("ix_outbox_jobs_open", table_name="outbox_jobs")
    # Back to "relayed means done": open jobs become unrelayed, so the old sweeper sends them again.
    op.execute("UPDATE outbox_jobs SET relayed_at = NULL WHERE completed_at IS NULL")
    with op.batch_alter_table("outbox_jobs") as batch:
        batch.drop_column("dead")
        batch.drop_column("completed_at")
        batch.drop_column("sends")
        batch.drop_column("lease_until")
    op.create_index("ix_outbox_jobs_pending", "outbox_jobs", ["relayed_at", "id"], unique=False)
