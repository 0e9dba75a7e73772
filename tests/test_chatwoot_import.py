"""`parley import chatwoot` against a Chatwoot database (tests/support/chatwoot_fixture.py): every
table reconciles, agents keep their passwords, embedded widgets keep working, history fires no
event, a run killed with SIGKILL resumes to the same result, and a second run changes nothing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from domain.events.enums import EventType
from domain.migration.chatwoot.importer import Importer, source_name
from tests.conftest import TEST_DATABASE_URL
from tests.support import chatwoot_fixture as cw
from tests.support.accounts import LOGIN

WIDGET_START = """mutation($i: WidgetSessionStartInput!) { widgetSessionStart(input: $i) {
  token contact { name email verified } errors { field code message } } }"""


@pytest.fixture(scope="module")
def chatwoot(tmp_path_factory: pytest.TempPathFactory) -> cw.ChatwootFixture:
    storage = tmp_path_factory.mktemp("chatwoot-storage")
    return asyncio.run(cw.create_chatwoot(cw.fixture_url(TEST_DATABASE_URL), storage))


def importer(db_engine, settings, chatwoot: cw.ChatwootFixture, **kw) -> Importer:
    return Importer(db_engine, settings, chatwoot.url, storage_dir=str(chatwoot.storage_dir), batch_size=50, **kw)


async def snapshot(engine) -> dict[str, str]:
    """Every Parley table's content (but the checkpoints' own bookkeeping) as one digest per table."""
    out = {}
    async with engine.connect() as conn:
        names = [
            r[0]
            for r in await conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'import_checkpoints'"
                )
            )
        ]
        for name in sorted(names):
            digest = await conn.scalar(
                text(
                    f"SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM \"{name}\" t"
                )
            )
            out[name] = digest
    return out


async def count(engine, sql: str) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text(sql)))


async def test_import_reconciles_every_table_and_fires_no_event(db_engine, settings, chatwoot, server):
    report = await importer(db_engine, settings, chatwoot).run()
    assert report.reconciles, report.render()
    t = report.tables
    # Each source table is accounted for: imported, or skipped with its reason.
    for name, table in t.items():
        assert table.source_rows == table.imported + sum(table.skipped.values()), name
        assert table.missing == table.mismatched == 0, name
    assert t["accounts"].imported == 2 and t["conversations"].source_rows == 100
    assert t["users"].skipped == {"no email address (nobody could sign in as this user)": 1}
    assert t["inboxes"].skipped == {"channel type Channel::TwitterProfile has no Parley equivalent": 1}
    assert t["attachments"].skipped == {"file missing from storage": cw.MISSING_FILES}
    assert t["attachments"].imported == 10
    assert any("differ only in case" in r for r in t["contacts"].skipped)
    assert t["conversations"].skipped == {"conversation without contact": 1, "contact not imported": 2}
    assert t["taggings"].skipped["no label titled 'legacy-tag' in the account"] == 1

    # History does not fire: no event-log row, so no webhook delivery and no notification.
    for table in ("events", "webhook_deliveries", "notifications", "outbox_jobs"):
        assert await count(db_engine, f"SELECT count(*) FROM {table}") == 0, table
    # Display ids are Chatwoot's, and new conversations continue after them.
    assert await count(db_engine, "SELECT max(display_id) FROM conversations") == 80
    assert await count(db_engine, "SELECT max(conversation_seq) FROM accounts") == 80
    # Emoji and HTML arrive as written; a merged contact's message belongs to the surviving contact.
    assert await count(db_engine, "SELECT count(*) FROM messages WHERE content LIKE '%🙏🏽 👨‍👩‍👧%'") > 0
    assert await count(db_engine, "SELECT count(*) FROM messages WHERE content LIKE '<script>%'") > 0
    assert (
        await count(db_engine, "SELECT count(*) FROM messages WHERE sender_type = 'contact' AND sender_id IS NULL") == 0
    )
    # Imported webhooks wait switched off: Chatwoot still calls them while both run.
    assert await count(db_engine, "SELECT count(*) FROM webhooks WHERE enabled") == 0
    # The copied files are the source's bytes.
    from domain.storage import get_storage

    async with db_engine.connect() as conn:
        rows = (await conn.execute(text("SELECT storage_key, byte_size, file_name FROM attachments"))).all()
    originals = {p.name: p.read_bytes() for p in Path(chatwoot.storage_dir).rglob("*") if p.is_file()}
    copied = [await get_storage(settings).read_prefix(key, size + 1) for key, size, _ in rows]
    assert sorted(copied) == sorted(originals.values()) and len(copied) == 10
    assert any(name.startswith("invoice") and "été" in name for _, _, name in rows)


async def test_reconciliation_notices_a_row_that_differs(db_engine, settings, chatwoot):
    assert (await importer(db_engine, settings, chatwoot).run()).reconciles
    async with db_engine.begin() as conn:
        await conn.execute(text("UPDATE messages SET content = 'tampered' WHERE id = (SELECT min(id) FROM messages)"))
        await conn.execute(text("DELETE FROM labels WHERE id = (SELECT min(id) FROM labels)"))
    report = await importer(db_engine, settings, chatwoot).run()
    assert not report.reconciles
    assert report.tables["messages"].mismatched == 1
    assert report.tables["labels"].mismatched == 1 and report.tables["taggings"].mismatched > 0
    assert report.tables["contacts"].reconciles


async def test_agent_signs_in_with_the_chatwoot_password_and_the_old_widget_opens(db_engine, settings, chatwoot, gql):
    assert (await importer(db_engine, settings, chatwoot).run()).reconciles
    signed = (await gql.data(LOGIN, {"input": {"email": cw.AGENT_EMAIL, "password": cw.AGENT_PASSWORD}}))["login"]
    assert signed["errors"] == [] and signed["tokens"]["accessToken"], signed
    wrong = (await gql.data(LOGIN, {"input": {"email": cw.AGENT_EMAIL, "password": "not-the-password"}}))["login"]
    assert wrong["tokens"] is None and wrong["errors"]
    me = await gql.data(
        "{ me { memberships { account { name } role } } }",
        headers={"Authorization": f"Bearer {signed['tokens']['accessToken']}"},
    )
    assert sorted(m["account"]["name"] for m in me["me"]["memberships"]) == ["Acme", "Globex 🌐"]

    origin = {"Origin": f"https://{cw.WIDGET_DOMAIN}"}
    started = (await gql.data(WIDGET_START, {"i": {"websiteToken": cw.WEBSITE_TOKEN}}, headers=origin))[
        "widgetSessionStart"
    ]
    assert started["errors"] == [] and started["token"], started
    # The identity-verification secret came along: Chatwoot's HMAC of a known identifier still matches.
    digest = hmac.new(cw.WIDGET_HMAC.encode(), b"ext-6", hashlib.sha256).hexdigest()
    known = (
        await gql.data(
            WIDGET_START,
            {"i": {"websiteToken": cw.WEBSITE_TOKEN, "identifier": "ext-6", "identifierHash": digest}},
            headers=origin,
        )
    )["widgetSessionStart"]
    assert known["errors"] == [] and known["contact"] == {
        "name": "Customer 6",
        "email": "customer6@mail.example",
        "verified": True,
    }, known
    # The allowed domains came along too.
    foreign = await gql.execute(
        WIDGET_START, {"i": {"websiteToken": cw.WEBSITE_TOKEN}}, headers={"Origin": "https://evil.example"}
    )
    assert foreign["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_second_run_changes_nothing(db_engine, settings, chatwoot):
    first = await importer(db_engine, settings, chatwoot).run()
    before = await snapshot(db_engine)
    second = await importer(db_engine, settings, chatwoot).run()
    assert second.new_rows == 0 and second.reconciles
    assert await snapshot(db_engine) == before
    assert second.summary() == first.summary()


async def _threads(engine) -> list[tuple]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT c.account_id, c.display_id, string_agg(m.message_type || ':' || m.content, '|' ORDER BY m.id) "
                "FROM conversations c JOIN messages m ON m.conversation_id = c.id "
                "GROUP BY c.account_id, c.display_id ORDER BY 1, 2"
            )
        )
        return [tuple(r) for r in rows]


async def test_batches_written_at_once_keep_the_source_order_and_the_same_result(db_engine, settings, chatwoot, tables):
    """Messages and conversations are written by several connections at once (`lanes`); their ids
    are still drawn in source order, so a conversation's messages read back in Chatwoot's order."""
    one_lane = await Importer(
        db_engine, settings, chatwoot.url, storage_dir=str(chatwoot.storage_dir), batch_size=20, lanes=1
    ).run()
    serial = await _threads(db_engine)
    await tables.empty()
    many = await Importer(
        db_engine, settings, chatwoot.url, storage_dir=str(chatwoot.storage_dir), batch_size=7, lanes=3
    ).run()
    assert many.reconciles and many.summary() == one_lane.summary()
    for table in ("conversations", "messages"):
        out_of_order = await count(
            db_engine,
            "SELECT count(*) FROM (SELECT target_id, lag(target_id) OVER (ORDER BY source_id) AS before "
            f"FROM import_id_map WHERE source_table = '{table}') q WHERE before > target_id",
        )
        assert out_of_order == 0, table
    # Every conversation reads the same messages in the same order either way (ids aside).
    assert await _threads(db_engine) == serial
    assert await count(db_engine, "SELECT count(*) FROM messages") == 679


async def test_a_role_without_superuser_imports_the_same_with_the_triggers_on(db_engine, settings, chatwoot, tables):
    """Only a superuser may set `session_replication_role`: any other role imports with the
    database's foreign-key triggers on (and its staged batches check nothing themselves), to the
    same result."""
    from urllib.parse import urlsplit, urlunsplit

    from db.session import create_engine
    from domain.migration.chatwoot.tables import SPEC_BY_NAME

    reference = await importer(db_engine, settings, chatwoot).run()
    await tables.empty()
    parts = urlsplit(TEST_DATABASE_URL)
    role = "importer_" + parts.path.lstrip("/")
    async with db_engine.begin() as conn:
        if await conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}):
            await conn.execute(text(f'DROP OWNED BY "{role}"'))
            await conn.execute(text(f'DROP ROLE "{role}"'))
        await conn.execute(text(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER'))
        await conn.execute(text(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"'))
        await conn.execute(text(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"'))
    limited = create_engine(urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}")))
    try:
        run = importer(limited, settings, chatwoot)
        async with limited.connect() as conn:
            assert await conn.scalar(text("SELECT current_setting('is_superuser')")) == "off"
            assert not await run._holds_references(conn, SPEC_BY_NAME["messages"])
        report = await run.run()
        assert report.reconciles, report.render()
        assert report.summary() == reference.summary()
        assert await count(db_engine, "SELECT count(*) FROM messages") == 679
        assert await count(
            db_engine, "SELECT count(*) FROM messages WHERE sender_type = 'user' AND sender_id IS NOT NULL"
        )
    finally:
        await limited.dispose()
        async with db_engine.begin() as conn:
            await conn.execute(text(f'DROP OWNED BY "{role}"'))
            await conn.execute(text(f'DROP ROLE "{role}"'))


async def test_one_account_then_all_makes_nothing_twice(db_engine, settings, chatwoot):
    globex = await importer(db_engine, settings, chatwoot, account=2).run()
    assert globex.reconciles and globex.tables["accounts"].imported == 1
    assert globex.tables["conversations"].imported == 20
    everything = await importer(db_engine, settings, chatwoot).run()
    assert everything.reconciles, everything.render()
    assert everything.tables["conversations"].new == 77 and everything.tables["conversations"].imported == 97
    assert await count(db_engine, "SELECT count(*) FROM accounts") == 2
    assert await count(db_engine, "SELECT count(*) FROM users WHERE email = 'maya@acme.example'") == 1


def _cli(settings, chatwoot, *extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(
        PARLEY_ENV="test",
        PARLEY_DATABASE_URL=TEST_DATABASE_URL,
        PARLEY_SECRET_KEY=settings.secret_key,
        PARLEY_DATA_DIR=str(settings.data_dir),
        PARLEY_LOG_LEVEL="WARNING",
    )
    cmd = [
        sys.executable,
        "-m",
        "parley.cli",
        "import",
        "chatwoot",
        "--source",
        chatwoot.url,
        "--storage-dir",
        str(chatwoot.storage_dir),
        "--batch-size",
        "20",
        "--json",
        *extra,
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def test_killed_mid_run_the_import_resumes_to_the_same_result(db_engine, settings, chatwoot, tables):
    uninterrupted = await importer(db_engine, settings, chatwoot).run()
    await tables.empty()

    proc = _cli(settings, chatwoot, "--pause", "0.05")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until some messages batch is committed: mid-table
            if await count(db_engine, "SELECT count(*) FROM import_checkpoints WHERE source_table = 'messages'"):
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    partial = await count(db_engine, "SELECT count(*) FROM messages")
    assert 0 < partial < 679
    assert await count(db_engine, "SELECT count(*) FROM import_checkpoints WHERE finished_at IS NULL") >= 1

    resumed = _cli(settings, chatwoot)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err.decode()[-2000:]
    # The progress lines name each table with its rate and the time left.
    assert b"rows/s" in err and b"ETA" in err
    import json

    answer = json.loads(out)
    assert answer["reconciles"] and answer["tables"] == uninterrupted.summary()
    assert await count(db_engine, "SELECT count(*) FROM messages") == 679
    assert (await importer(db_engine, settings, chatwoot).run()).summary() == uninterrupted.summary()


async def test_the_source_is_only_read(chatwoot, db_engine, settings):
    import asyncpg

    before = {}
    conn = await asyncpg.connect(chatwoot.url)
    try:
        for table in chatwoot.counts:
            before[table] = await conn.fetchval(f"SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM {table} t")
    finally:
        await conn.close()
    await importer(db_engine, settings, chatwoot).run()
    # The importer's own session refuses writes.
    from domain.migration.chatwoot.importer import connect_source

    src = await connect_source(chatwoot.url)
    try:
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await src.execute("UPDATE accounts SET name = 'x'")
        for table, digest in before.items():
            assert await src.fetchval(f"SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM {table} t") == digest
    finally:
        await src.close()
    assert source_name(chatwoot.url).endswith("_chatwoot") and "@" not in source_name(chatwoot.url)


async def test_rollback_drops_one_account_and_what_only_it_had(db_engine, settings, chatwoot):
    from domain.migration.chatwoot.rollback import NothingToRollBack, rollback_account

    assert (await importer(db_engine, settings, chatwoot).run()).reconciles
    acme_only = await count(
        db_engine, "SELECT count(*) FROM users WHERE email IN ('ada@acme.example', 'ben@acme.example')"
    )
    assert acme_only == 2
    done = await rollback_account(db_engine, settings, chatwoot.url, 1)
    assert done.files_dropped == 10 and done.users_dropped == 3  # Ada, Ben, Una; Maya is in Globex too
    assert await count(db_engine, "SELECT count(*) FROM accounts") == 1
    assert await count(db_engine, "SELECT count(*) FROM users WHERE email = 'ada@acme.example'") == 0
    assert await count(db_engine, "SELECT count(*) FROM users WHERE email = 'maya@acme.example'") == 1
    assert await count(db_engine, "SELECT count(*) FROM conversations") == 20
    globex = await importer(db_engine, settings, chatwoot, account=2).run()
    assert globex.reconciles and globex.new_rows == 0
    with pytest.raises(NothingToRollBack):
        await rollback_account(db_engine, settings, chatwoot.url, 1)
    # Imported again from scratch, it reconciles as the first time.
    again = await importer(db_engine, settings, chatwoot).run()
    assert again.reconciles and again.tables["conversations"].new == 77


async def test_the_bridge_carries_a_message_written_in_chatwoot_after_the_import(db_engine, settings, chatwoot, server):
    import asyncpg

    from db.session import create_session_factory
    from domain.events.relay import Relay
    from domain.migration.chatwoot.sync import Bridge

    assert (await importer(db_engine, settings, chatwoot).run()).reconciles
    relay = Relay(create_session_factory(db_engine), None, None, 30)
    bridge = Bridge(db_engine, settings, chatwoot.url, relay, batch_size=50)
    first = await bridge.poll_once()
    assert first.messages == 0 and first.structural_rows == 0  # the import carried everything already
    conn = await asyncpg.connect(chatwoot.url)
    new_id = None
    try:
        conv = await conn.fetchrow(
            "SELECT id, account_id, inbox_id, contact_id FROM conversations WHERE status = 1 AND contact_id IS NOT NULL "
            "ORDER BY id LIMIT 1"
        )  # resolved
        new_id = await conn.fetchval(
            """INSERT INTO messages (content, account_id, inbox_id, conversation_id, message_type, created_at,
            updated_at, private, sender_type, sender_id) VALUES ('Written in Chatwoot after the move 🚚', $1, $2, $3,
            0, now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc', false, 'Contact', $4) RETURNING id""",
            conv["account_id"],
            conv["inbox_id"],
            conv["id"],
            conv["contact_id"],
        )
        carried = await bridge.poll_once()
        assert carried.messages == 1
        async with db_engine.connect() as pc:
            message_id, conversation_id = (
                await pc.execute(
                    text(
                        "SELECT id, conversation_id FROM messages WHERE content = 'Written in Chatwoot after the move 🚚'"
                    )
                )
            ).one()
            types = set(
                (await pc.execute(text("SELECT type FROM events WHERE message_id = :m"), {"m": message_id})).scalars()
            )
        assert types == {EventType.MESSAGE_CREATED.value}, types
        assert await count(db_engine, "SELECT count(*) FROM events WHERE type = 'conversation.status_changed'") == 1
        # The message went through Parley's own rules: the resolved conversation reopened for it.
        async with db_engine.connect() as pc:
            status = await pc.scalar(text("SELECT status FROM conversations WHERE id = :c"), {"c": conversation_id})
        assert status == "open"
        again = await bridge.poll_once()
        assert again.messages == 0
        assert await count(db_engine, "SELECT count(*) FROM messages WHERE content LIKE 'Written in Chatwoot%'") == 1
    finally:
        await conn.execute("DELETE FROM messages WHERE id = $1", new_id)
        await conn.close()


async def test_two_runs_of_one_source_do_not_overlap(db_engine, settings, chatwoot):
    from domain.migration.chatwoot.importer import SourceError

    first = importer(db_engine, settings, chatwoot, pause=0.2)
    running = asyncio.ensure_future(first.run())
    while await count(db_engine, "SELECT count(*) FROM import_checkpoints") == 0:
        await asyncio.sleep(0.05)
    with pytest.raises(SourceError, match="is running"):
        await importer(db_engine, settings, chatwoot).run()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    # Cancelled, it let go of the lock: the next run goes ahead and finishes the work.
    assert (await importer(db_engine, settings, chatwoot).run()).reconciles


CONVERSATION = """query($d: Int!) { conversation(displayId: $d) { displayId status inbox { name } contact { name }
  labels { title } messages(first: 10) { edges { node { content private } } } } }"""


async def _signed_in(gql, email: str, password: str) -> tuple[str, dict[str, str]]:
    signed = (await gql.data(LOGIN, {"input": {"email": email, "password": password}}))["login"]
    token = signed["tokens"]["accessToken"]
    me = await gql.data("{ me { memberships { account { id name } } } }", headers={"Authorization": f"Bearer {token}"})
    return token, {m["account"]["name"]: m["account"]["id"] for m in me["me"]["memberships"]}


async def test_imported_conversations_stay_in_their_account(db_engine, settings, chatwoot, gql):
    assert (await importer(db_engine, settings, chatwoot).run()).reconciles
    token, accounts = await _signed_in(gql, cw.AGENT_EMAIL, cw.AGENT_PASSWORD)
    as_acme = {"Authorization": f"Bearer {token}", "X-Parley-Account": accounts["Acme"]}
    as_globex = {"Authorization": f"Bearer {token}", "X-Parley-Account": accounts["Globex 🌐"]}
    acme = (await gql.data(CONVERSATION, {"d": 3}, headers=as_acme))["conversation"]
    globex = (await gql.data(CONVERSATION, {"d": 3}, headers=as_globex))["conversation"]
    assert acme["inbox"]["name"].startswith("Acme") and globex["inbox"]["name"] == "Globex website"
    assert acme["contact"]["name"] != globex["contact"]["name"]
    assert any(e["node"]["private"] for e in acme["messages"]["edges"])  # private notes came as notes
    # Inbox membership came along: Maya is not in the email inbox of conversation 2.
    hidden = await gql.execute(CONVERSATION, {"d": 2}, headers=as_acme)
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # Ada is in Acme only: Globex's account refuses her, whatever display id she asks for.
    ada, mine = await _signed_in(gql, "ada@acme.example", "ada-password-1")
    assert list(mine) == ["Acme"]
    refused = await gql.execute(
        CONVERSATION, {"d": 3}, headers={"Authorization": f"Bearer {ada}", "X-Parley-Account": accounts["Globex 🌐"]}
    )
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused


async def test_the_sync_command_polls_once_and_the_rollback_command_undoes(db_engine, settings, chatwoot):
    import asyncpg

    from tests.conftest import TEST_REDIS_URL

    assert (await importer(db_engine, settings, chatwoot).run()).reconciles
    conn = await asyncpg.connect(chatwoot.url)
    new_id = None
    try:
        conv = await conn.fetchrow("SELECT id, account_id, inbox_id FROM conversations WHERE account_id = 2 LIMIT 1")
        new_id = await conn.fetchval(
            """INSERT INTO messages (content, account_id, inbox_id, conversation_id, message_type, created_at,
            updated_at, private, sender_type, sender_id) VALUES ('Agent reply from Chatwoot', $1, $2, $3, 1,
            now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc', false, 'User', 4) RETURNING id""",
            conv["account_id"],
            conv["inbox_id"],
            conv["id"],
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        env.update(
            PARLEY_ENV="test",
            PARLEY_DATABASE_URL=TEST_DATABASE_URL,
            PARLEY_SECRET_KEY=settings.secret_key,
            PARLEY_DATA_DIR=str(settings.data_dir),
            PARLEY_REDIS_URL=TEST_REDIS_URL,
            PARLEY_LOG_LEVEL="WARNING",
        )
        base = [sys.executable, "-m", "parley.cli"]
        done = subprocess.run(
            [*base, "sync", "chatwoot", "--source", chatwoot.url, "--account", "2", "--once"],
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        assert b"carried 1 message(s)" in done.stdout
        # An agent's reply: Parley's reply rules ran, with the agent as sender.
        async with db_engine.connect() as pc:
            sender = await pc.scalar(
                text(
                    "SELECT u.email FROM messages m JOIN users u ON u.id = m.sender_id "
                    "WHERE m.content = 'Agent reply from Chatwoot'"
                )
            )
        assert sender == "gia@globex.example"
        undo = subprocess.run(
            [*base, "import", "chatwoot-rollback", "--source", chatwoot.url, "--account", "2"],
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert undo.returncode == 0 and b"dropped Parley account" in undo.stdout, undo.stderr
        again = subprocess.run(
            [*base, "import", "chatwoot-rollback", "--source", chatwoot.url, "--account", "2"],
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert again.returncode == 2 and b"was not imported here" in again.stderr
    finally:
        await conn.execute("DELETE FROM messages WHERE id = $1", new_id)
        await conn.close()


async def test_an_assignee_who_is_no_member_of_the_conversations_account_is_not_kept(
    db_engine, settings, chatwoot, tables
):
    """Chatwoot keeps `assignee_id` when an agent leaves an account; Parley's assignees are members
    of the conversation's account, so such a conversation arrives unassigned (in both the SQL
    transform and the reconciliation's), and the import still reconciles."""
    import asyncpg

    src = await asyncpg.connect(chatwoot.url)
    try:
        outsider = await src.fetchval(
            "SELECT u.id FROM users u WHERE u.email IS NOT NULL"
            " AND EXISTS (SELECT 1 FROM account_users a WHERE a.user_id = u.id)"
            " AND NOT EXISTS (SELECT 1 FROM account_users a WHERE a.user_id = u.id AND a.account_id = 2)"
            " ORDER BY u.id LIMIT 1"
        )
        conversation, was = (
            await src.fetchrow("SELECT id, assignee_id FROM conversations WHERE account_id = 2 ORDER BY id LIMIT 1")
        ).values()
        assert outsider is not None and conversation is not None
        await src.execute("UPDATE conversations SET assignee_id = $1 WHERE id = $2", outsider, conversation)
        await tables.empty()
        report = await importer(db_engine, settings, chatwoot).run()
        assert report.reconciles, report.render()
        assignee = await count(
            db_engine,
            "SELECT count(*) FROM conversations c JOIN import_id_map m ON m.target_id = c.id"
            f" AND m.source_table = 'conversations' AND m.source_id = {int(conversation)} WHERE c.assignee_id IS NULL",
        )
        assert assignee == 1
        # Nobody anywhere is assigned a conversation of an account they are no member of.
        assert not await count(
            db_engine,
            "SELECT count(*) FROM conversations c WHERE c.assignee_id IS NOT NULL AND NOT EXISTS"
            " (SELECT 1 FROM account_memberships a WHERE a.account_id = c.account_id AND a.user_id = c.assignee_id)",
        )
    finally:
        await src.execute("UPDATE conversations SET assignee_id = $1 WHERE id = $2", was, conversation)
        await src.close()
