"""search: a stored full-text vector of message content (English stemming) and prefix indexes of contacts

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite searches with LIKE
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # A stored column the database keeps current, not an expression index: a search then checks each
    # candidate row's vector instead of parsing its content again (the newest-first walk and the rank).
    op.execute(
        "ALTER TABLE messages ADD COLUMN IF NOT EXISTS content_tsv tsvector "
        "GENERATED ALWAYS AS (to_tsvector('english'::regconfig, coalesce(content, ''))) STORED"
    )
    op.execute("CREATE INDEX IF NOT EXISTS ix_messages_content_tsv ON messages USING gin (content_tsv)")
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
    op.execute("DROP INDEX IF EXISTS ix_messages_content_tsv")
    op.execute("ALTER TABLE messages DROP COLUMN IF EXISTS content_tsv")
