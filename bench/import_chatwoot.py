"""`python -m bench.import_chatwoot`: the Chatwoot importer's rows per second against a plain `COPY`
of the same rows between the same two databases.

It creates a Chatwoot database (the fixture's schema, tests/support/chatwoot_fixture.py) and seeds
it with `generate_series`: one account, 10 agents, a web widget, `--conversations` conversations of
10 messages each, a contact per 2 conversations. Then it recreates a Parley database, migrates it,
and times `Importer.run` (reconciliation timed apart). The baseline copies the same rows (contacts,
contact inboxes, conversations, messages) with a plain binary COPY pipe (`COPY … TO STDOUT` from
Chatwoot, `COPY … FROM STDIN` into unlogged tables of the same shape in Parley's database, the bytes
untouched). A second baseline copies the rows the import wrote, the same way, into fresh tables
made `LIKE` Parley's (with their indexes and the messages' generated full-text vector): the floor of
anything that writes these rows where Parley keeps them.

    python -m bench.import_chatwoot                      # 5,000 conversations, 50,000 messages
    python -m bench.import_chatwoot --conversations 50000  # the issue's scale: 500,000 messages
    python -m bench.import_chatwoot --no-seed            # again, on the Chatwoot data the last run seeded
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import asyncpg

COPIED = ("contacts", "contact_inboxes", "conversations", "messages")


def say(message: str) -> None:
    print(message, flush=True)


async def recreate(url: str) -> None:
    parts = urlsplit(url)
    admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        name = parts.path.lstrip("/")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def seed(url: str, conversations: int) -> dict[str, int]:
    from tests.support.chatwoot_fixture import SCHEMA

    await recreate(url)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(SCHEMA)
        contacts = max(conversations // 2, 1)
        await conn.execute(
            f"""
            INSERT INTO accounts (name, created_at, updated_at) VALUES ('Bench', now(), now());
            INSERT INTO users (uid, encrypted_password, name, email, created_at, updated_at, confirmed_at)
              SELECT 'u' || g, '$2a$04$abcdefghijklmnopqrstuu5Wk7u3S8wQZtI6H8dW0qTj9hjkmB2ey', 'Agent ' || g,
                     'agent' || g || '@bench.example', now(), now(), now() FROM generate_series(1, 10) g;
            INSERT INTO account_users (account_id, user_id, role, created_at, updated_at)
              SELECT 1, g, (g = 1)::int, now(), now() FROM generate_series(1, 10) g;
            INSERT INTO channel_web_widgets (account_id, website_token, hmac_token, created_at, updated_at)
              VALUES (1, 'benchtoken', 'benchhmac', now(), now());
            INSERT INTO inboxes (channel_id, account_id, name, channel_type, created_at, updated_at)
              VALUES (1, 1, 'Website', 'Channel::WebWidget', now(), now());
            INSERT INTO contacts (name, email, account_id, created_at, updated_at)
              SELECT 'Contact ' || g, 'c' || g || '@mail.example', 1, now(), now() FROM generate_series(1, {contacts}) g;
            INSERT INTO contact_inboxes (contact_id, inbox_id, source_id, created_at, updated_at)
              SELECT g, 1, 'src-' || g, now(), now() FROM generate_series(1, {contacts}) g;
            INSERT INTO conversations (account_id, inbox_id, status, assignee_id, created_at, updated_at, contact_id,
                                       contact_inbox_id, last_activity_at)
              SELECT 1, 1, g % 3, 1 + g % 10, now(), now(), 1 + g % {contacts}, 1 + g % {contacts}, now()
              FROM generate_series(1, {conversations}) g;
            INSERT INTO messages (content, account_id, inbox_id, conversation_id, message_type, created_at, updated_at,
                                  private, sender_type, sender_id, content_attributes)
              SELECT 'Message ' || m || ' of conversation ' || c || ' — merci 🙏', 1, 1, c, m % 2,
                     now(), now(), false, CASE WHEN m % 2 = 0 THEN 'Contact' ELSE 'User' END,
                     CASE WHEN m % 2 = 0 THEN 1 + c % {contacts} ELSE 1 + c % 10 END, '{{}}'
              FROM generate_series(1, {conversations}) c, generate_series(1, 10) m ORDER BY c, m;
            ANALYZE;
            """
        )
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in COPIED}
    finally:
        await conn.close()


async def counted(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in COPIED}
    finally:
        await conn.close()


async def _pipe(
    src: asyncpg.Connection, dst: asyncpg.Connection, query: str, table: str, columns: list[str] | None = None
) -> int:
    """`COPY (query) TO STDOUT` on one side, `COPY table FROM STDIN` on the other, binary: the bytes
    pass through untouched (read whole, then written)."""
    parts: list[bytes] = []

    async def sink(chunk: bytes) -> None:
        parts.append(chunk)

    async def chunks():
        for part in parts:
            yield part

    await src.copy_from_query(query, output=sink, format="binary")
    result = await dst.copy_to_table(table, source=chunks(), columns=columns, format="binary")
    return int(result.split()[-1])


async def copy_baseline(source: str, target: str) -> tuple[int, float]:
    """The same rows moved with a plain binary COPY pipe (`COPY … TO STDOUT` from Chatwoot, `COPY …
    FROM STDIN` into unlogged tables of the same shape in Parley's database, no indexes, no keys): the
    floor of any importer."""
    src = await asyncpg.connect(source)
    dst = await asyncpg.connect(target.replace("postgresql+asyncpg://", "postgresql://"))
    rows = 0
    try:
        for table in COPIED:
            columns = await src.fetch(
                "SELECT attname AS column_name, format_type(atttypid, atttypmod) AS type FROM pg_attribute "
                "WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                table,
            )
            await dst.execute(f'DROP TABLE IF EXISTS "copy_{table}"')
            await dst.execute(
                f'CREATE UNLOGGED TABLE "copy_{table}" ('
                + ", ".join(f'"{c["column_name"]}" {c["type"]}' for c in columns)
                + ")"
            )
        started = time.perf_counter()
        for table in COPIED:
            rows += await _pipe(src, dst, f"SELECT * FROM {table} ORDER BY id", f"copy_{table}")
        return rows, time.perf_counter() - started
    finally:
        await src.close()
        await dst.close()


async def indexed_baseline(target: str) -> tuple[int, float]:
    """The rows the import wrote, copied again (the same binary COPY pipe) into fresh tables made
    `LIKE` Parley's own, with their indexes, defaults and generated columns (the full-text vector of
    messages): the floor of anything that writes these rows into Parley's tables."""
    url = target.replace("postgresql+asyncpg://", "postgresql://")
    src = await asyncpg.connect(url)
    dst = await asyncpg.connect(url)
    rows = 0
    try:
        plans = []
        for table in COPIED:
            writable = await src.fetchval(
                "SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute "
                "WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''",
                table,
            )
            await dst.execute(f'DROP TABLE IF EXISTS "floor_{table}"')
            await dst.execute(f'CREATE TABLE "floor_{table}" (LIKE "{table}" INCLUDING ALL)')
            plans.append((table, writable))
        started = time.perf_counter()
        for table, columns in plans:
            listed = ", ".join('"' + c + '"' for c in columns)
            query = f'SELECT {listed} FROM "{table}" ORDER BY id'
            rows += await _pipe(src, dst, query, f"floor_{table}", list(columns))
        elapsed = time.perf_counter() - started
        for table in COPIED:
            await dst.execute(f'DROP TABLE IF EXISTS "floor_{table}"')
        return rows, elapsed
    finally:
        await src.close()
        await dst.close()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=5000)
    parser.add_argument("--source-url", default="postgresql://postgres@127.0.0.1:5432/parley_bench_chatwoot")
    parser.add_argument("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/parley_bench_import")
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--parallel", type=int, default=2, help="batches of messages written at once (default 2)")
    parser.add_argument("--no-seed", action="store_true", help="reuse the Chatwoot database the last run seeded")
    parser.add_argument("--no-reconcile", action="store_true", help="skip the second, reconciling run")
    args = parser.parse_args()

    from db.migrate import upgrade
    from db.session import create_engine
    from domain.migration.chatwoot.importer import Importer
    from infra.settings import Environment, Settings

    if args.no_seed:
        counts = await counted(args.source_url)
        say(f"reusing the seeded Chatwoot database: {counts}")
    else:
        say(f"seeding Chatwoot: {args.conversations} conversations, {args.conversations * 10} messages")
        counts = await seed(args.source_url, args.conversations)
    await recreate(args.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    await asyncio.to_thread(upgrade, args.database_url)
    settings = Settings(env=Environment.test, database_url=args.database_url)
    engine = create_engine(args.database_url, pool_size=1 + max(1, args.parallel), max_overflow=0)
    try:
        say(f"load average before the import: {os.getloadavg()[0]:.1f}")
        importer = Importer(
            engine, settings, args.source_url, batch_size=args.batch_size, progress=sys.stderr, lanes=args.parallel
        )
        started = time.perf_counter()
        report = await importer.run(reconcile=False)
        imported = time.perf_counter() - started
        say(f"load average after the import: {os.getloadavg()[0]:.1f}")
        reconciled = None
        if not args.no_reconcile:
            started = time.perf_counter()
            checked = await Importer(engine, settings, args.source_url, batch_size=args.batch_size).run()
            reconciled = time.perf_counter() - started
            assert checked.reconciles, checked.render()
    finally:
        await engine.dispose()
    moved = sum(report.tables[t].new for t in COPIED)
    copied, copy_seconds = await copy_baseline(args.source_url, args.database_url)
    assert copied == sum(counts.values())
    indexed, indexed_seconds = await indexed_baseline(args.database_url)
    rate, copy_rate, indexed_rate = moved / imported, copied / copy_seconds, indexed / indexed_seconds
    say(f"import (all tables, checkpoints, id map): {report.new_rows} rows in {imported:.1f} s")
    say(f"  contacts + contact inboxes + conversations + messages: {moved} rows, {rate:,.0f} rows/s")
    if reconciled is not None:
        say(f"reconciliation: {reconciled:.1f} s (reads both sides again; every row reconciles)")
    say(f"baseline COPY of the same {copied} rows: {copy_seconds:.1f} s, {copy_rate:,.0f} rows/s")
    say(
        f"COPY of the imported {indexed} rows into tables like Parley's (their indexes and generated "
        f"columns): {indexed_seconds:.1f} s, {indexed_rate:,.0f} rows/s"
    )
    say(f"import / COPY: {rate / copy_rate:.2f}x (goal >= 0.25x)")
    say(f"import / COPY into indexed tables: {rate / indexed_rate:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
