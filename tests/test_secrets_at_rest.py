"""Secrets we keep for others are encrypted at rest: an inbox's identity-verification secret is stored
AES-256-GCM-sealed with its key id (like webhook signing secrets), shown to administrators only, still
verifies widget identities, and migration 0011 seals the rows written before it (its downgrade
opens them again)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import text

from db.migrate import downgrade, upgrade
from db.session import create_engine
from domain import crypto
from domain.helpdesk.inboxes import HMAC_TOKEN_CONTEXT
from infra.settings import Settings
from tests.conftest import TEST_DATABASE_URL, _recreate_database
from tests.support.demo import demo_admin

INBOXES = "{ inboxes { id channelType websiteToken hmacToken } }"
START = """mutation($i: WidgetSessionStartInput!) { widgetSessionStart(input: $i) {
  token contact { verified } errors { field code } } }"""


def sign(secret: str, identifier: str) -> str:
    return hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


async def test_the_inbox_secret_is_sealed_in_the_database_and_still_verifies_identities(gql, settings, db_engine):
    headers = await demo_admin(gql, settings)
    inboxes = (await gql.data(INBOXES, headers=headers))["inboxes"]
    widget = next(i for i in inboxes if i["channelType"] == "WEB_WIDGET")
    secret = widget["hmacToken"]
    assert secret and len(secret) >= 32
    async with db_engine.connect() as conn:
        rows = (await conn.execute(text("SELECT hmac_token_encrypted, hmac_token_key_id FROM inboxes"))).all()
        columns = {
            r[0]
            for r in await conn.execute(
                text("SELECT column_name FROM information_schema.columns WHERE table_name = 'inboxes'")
            )
        }
    assert "hmac_token" not in columns
    assert len(rows) == len(inboxes)
    current = crypto.key_id(crypto.keys(settings)[0])
    plaintexts = set()
    for sealed, key_id in rows:
        assert key_id == current and sealed.startswith(f"v1:{current}:")
        assert secret not in sealed
        plaintexts.add(crypto.decrypt(sealed, settings, context=HMAC_TOKEN_CONTEXT))
    assert secret in plaintexts
    # Bound to its purpose: the same ciphertext does not open as a webhook secret.
    sealed = next(s for s, _ in rows if crypto.decrypt(s, settings, context=HMAC_TOKEN_CONTEXT) == secret)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(sealed, settings, context=b"webhook-secret")

    verified = await gql.data(
        START,
        {
            "i": {
                "websiteToken": widget["websiteToken"],
                "identifier": "user-7",
                "identifierHash": sign(secret, "user-7"),
            }
        },
    )
    assert (
        verified["widgetSessionStart"]["errors"] == [] and verified["widgetSessionStart"]["contact"]["verified"] is True
    )
    forged = await gql.data(
        START,
        {
            "i": {
                "websiteToken": widget["websiteToken"],
                "identifier": "user-7",
                "identifierHash": sign("not-the-secret", "user-7"),
            }
        },
    )
    assert forged["widgetSessionStart"]["errors"] == [{"field": "identifierHash", "code": "INVALID_HASH"}]


def _other_database() -> str:
    parts = urlsplit(TEST_DATABASE_URL)
    return urlunsplit(parts._replace(path=parts.path + "_secrets"))


async def _sql(url: str, statement: str, params: dict | None = None) -> list:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(statement), params or {})
            return result.all() if result.returns_rows else []
    finally:
        await engine.dispose()


def test_migration_0011_seals_existing_secrets_and_its_downgrade_opens_them():
    url = _other_database()
    asyncio.run(_recreate_database(url))
    upgrade(url, "0010")
    now = datetime.now(UTC)
    asyncio.run(
        _sql(
            url,
            "INSERT INTO accounts (id, name, locale, timezone, status, settings, conversation_seq, "
            "event_seq, created_at, updated_at) VALUES (1, 'Old', 'en', 'UTC', 'active', '{}', 0, 0, :t, :t)",
            {"t": now},
        )
    )
    for pk, secret in ((1, "plain-secret-one"), (2, "plain-secret-two")):
        asyncio.run(
            _sql(
                url,
                "INSERT INTO inboxes (id, account_id, name, channel_type, channel_config, hmac_token, "
                "hmac_mandatory, greeting_enabled, greeting_message, out_of_office_message, "
                "working_hours_enabled, working_hours, timezone, enable_auto_assignment, created_at, "
                "updated_at) VALUES (:id, 1, 'Site', 'web_widget', '{}', :s, false, false, '', '', false, "
                "'[]', 'UTC', true, :t, :t)",
                {"id": pk, "s": secret, "t": now},
            )
        )
    upgrade(url, "0011")
    # The migration reads the keys as the application does: here the test environment's defaults.
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    rows = asyncio.run(_sql(url, "SELECT id, hmac_token_encrypted, hmac_token_key_id FROM inboxes ORDER BY id"))
    assert [crypto.decrypt(r[1], settings, context=HMAC_TOKEN_CONTEXT) for r in rows] == [
        "plain-secret-one",
        "plain-secret-two",
    ]
    assert all("plain-secret" not in r[1] and r[2] == crypto.key_id_of(r[1]) for r in rows)
    downgrade(url, "0010")
    rows = asyncio.run(_sql(url, "SELECT hmac_token FROM inboxes ORDER BY id"))
    assert [r[0] for r in rows] == ["plain-secret-one", "plain-secret-two"]
    upgrade(url, "head")  # and forward again to the current schema
