"""inbox identity-verification secrets encrypted at rest (AES-256-GCM with a key id, as webhook secrets)

Existing rows are encrypted with the installation's current key, read from the same settings as the
application (PARLEY_SECRETS_ENCRYPTION_KEY, else derived from PARLEY_SECRET_KEY); the downgrade
decrypts them back.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

if TYPE_CHECKING:
    from infra.settings import Settings

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

CONTEXT = b"inbox-hmac-token"  # domain.helpdesk.inboxes.HMAC_TOKEN_CONTEXT
inboxes = sa.table(
    "inboxes",
    sa.column("id", sa.BigInteger()),
    sa.column("hmac_token", sa.String(64)),
    sa.column("hmac_token_encrypted", sa.Text()),
    sa.column("hmac_token_key_id", sa.String(32)),
)


def _settings() -> Settings:
    from infra.settings import load_settings

    return load_settings()


def upgrade() -> None:
    from domain import crypto

    with op.batch_alter_table("inboxes") as batch:
        batch.add_column(sa.Column("hmac_token_encrypted", sa.Text(), nullable=True))
        batch.add_column(sa.Column("hmac_token_key_id", sa.String(length=32), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.select(inboxes.c.id, inboxes.c.hmac_token)).all()
    if rows:
        settings = _settings()
        for row in rows:
            sealed = crypto.encrypt(row.hmac_token, settings, context=CONTEXT)
            conn.execute(
                inboxes.update()
                .where(inboxes.c.id == row.id)
                .values(hmac_token_encrypted=sealed, hmac_token_key_id=crypto.key_id_of(sealed) or "")
            )
    with op.batch_alter_table("inboxes") as batch:
        batch.alter_column("hmac_token_encrypted", existing_type=sa.Text(), nullable=False)
        batch.alter_column("hmac_token_key_id", existing_type=sa.String(length=32), nullable=False)
        batch.drop_column("hmac_token")


def downgrade() -> None:
    from domain import crypto

    with op.batch_alter_table("inboxes") as batch:
        batch.add_column(sa.Column("hmac_token", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.select(inboxes.c.id, inboxes.c.hmac_token_encrypted)).all()
    if rows:
        settings = _settings()
        for row in rows:
            plain = crypto.decrypt(row.hmac_token_encrypted, settings, context=CONTEXT)
            conn.execute(inboxes.update().where(inboxes.c.id == row.id).values(hmac_token=plain))
    with op.batch_alter_table("inboxes") as batch:
        batch.alter_column("hmac_token", existing_type=sa.String(length=64), nullable=False)
        batch.drop_column("hmac_token_key_id")
        batch.drop_column("hmac_token_encrypted")
