"""search: a full-text index of message content (English stemming) and prefix indexes of contacts

Revision ID: 0017_search
Revises: 0015
"""

from __future__ import annotations

from alembic import op

revision = "0017_search"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite searches with LIKE
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # An expression index, not a stored column: no rewrite of the messages table, no extra bytes per row.
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_messages_content_fts ON messages "
        "USING gin (to_tsvector('english'::regconfig, content))"
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_contacts_name_prefix ON contacts (account_id, lower(name) text_pattern_ops)"
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_contacts_email_prefix ON contacts (account_id, lower(email) text_pattern_ops)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_contacts_email_prefix")
    op.execute("DROP INDEX IF EXISTS ix_contacts_name_prefix")
    op.execute("DROP INDEX IF EXISTS ix_messages_content_fts")
