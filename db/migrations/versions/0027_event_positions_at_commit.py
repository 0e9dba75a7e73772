"""Event positions taken at COMMIT on PostgreSQL: a deferred trigger numbers the events a
transaction inserted without a position, so the account row is locked only inside the COMMIT

Revision ID: 0027
Revises: 0026
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

# Runs once per such event, in insertion order, when its transaction commits (a deferred constraint
# trigger): the account's counter moves by one (the row lock it takes lasts until the end of the
# COMMIT, so positions become visible in commit order) and the event gets that position.
_NUMBER = """
CREATE FUNCTION parley_number_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE taken bigint;
BEGIN
  UPDATE accounts SET event_seq = event_seq + 1 WHERE id = NEW.account_id RETURNING event_seq INTO taken;
  IF taken IS NULL THEN
    RAISE EXCEPTION 'account % not found while numbering event %', NEW.account_id, NEW.id;
  END IF;
  UPDATE events SET position = taken WHERE id = NEW.id;
  RETURN NULL;
END $$
"""
_TRIGGER = """
CREATE CONSTRAINT TRIGGER events_number_at_commit AFTER INSERT ON events
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.position IS NULL)
  EXECUTE FUNCTION parley_number_event()
"""


def upgrade() -> None:
    # SQLite numbers events in the writing transaction as before (domain/events/log.py): its column
    # stays as it is.
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("events", "position", existing_type=sa.BigInteger(), nullable=True)
        op.execute(_NUMBER)
        op.execute(_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER events_number_at_commit ON events")
        op.execute("DROP FUNCTION parley_number_event()")
        op.alter_column("events", "position", existing_type=sa.BigInteger(), nullable=False)
