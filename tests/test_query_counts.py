"""No N+1: list queries issue the same small number of SQL statements for a page of 25 and of 100."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, text

from infra.logs import request_id_var
from parley import fast_lane
from schema.core.ids import decode_id
from tests.support.desk import CONVERSATION_FIELDS, build_desk

# The dashboard's list: contact, assignee, team, labels, inbox, last message and unread count.
LIST = f"query($first: Int) {{ conversations(first: $first) {{ edges {{ node {{ {CONVERSATION_FIELDS} }} }} }} }}"


@contextlib.contextmanager
def count_statements(engine):
    statements: list[str] = []

    def on_execute(conn, cursor, statement, *args):
        # Only statements of requests: the in-process scheduler shares the engine.
        if request_id_var.get() is not None:
            statements.append(statement)

    def on_lane(sent_by, statement: str) -> None:  # the fast lane's statements go past SQLAlchemy's events
        if sent_by is engine:
            on_execute(None, None, statement)

    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    fast_lane.statement_observers.append(on_lane)
    try:
        yield statements
    finally:
        fast_lane.statement_observers.remove(on_lane)
        event.remove(engine.sync_engine, "before_cursor_execute", on_execute)


@contextlib.asynccontextmanager
async def count_all_statements(server):
    """Every statement requests send to PostgreSQL, transaction control (BEGIN, ROLLBACK, COMMIT) and
    pool checks included: asyncpg's query log on each connection the pool hands out.

    asyncpg hands a finished statement to its query loggers with ``call_soon``, so the record of a
    COMMIT may still be queued on the server's loop when the client already holds the response; the
    window closes only after that loop has run what was queued before it."""
    engine = server.app.state.services.engine
    statements: list[str] = []

    def on_query(record) -> None:
        if request_id_var.get() is not None:
            statements.append(record.query)

    def on_checkout(dbapi_connection, _record, _proxy) -> None:
        dbapi_connection._connection.add_query_logger(on_query)

    def on_checkin(dbapi_connection, _record) -> None:
        with contextlib.suppress(Exception):
            dbapi_connection._connection.remove_query_logger(on_query)

    # The fast lane's planned-once connections are a pool of their own on the same database.
    engines = [e for e in (engine, server.app.state.services.lane_engine) if e is not None]
    for each in engines:
        event.listen(each.sync_engine, "checkout", on_checkout)
        event.listen(each.sync_engine.pool, "checkin", on_checkin)
    try:
        with count_statements(engine) as data:
            yield statements, data
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(asyncio.sleep(0), server.loop))
    finally:
        for each in engines:
            event.remove(each.sync_engine, "checkout", on_checkout)
            event.remove(each.sync_engine.pool, "checkin", on_checkin)


async def seed(db_engine, desk, n: int) -> None:
    """n conversations with a message each, all labelled, half assigned: written straight to the
    database (building them through the API would only make this test slow)."""
    account = (await desk.data(desk.admin, "{ account { id } }"))["account"]["id"]
    account_pk, inbox_pk = decode_id(account, "Account"), decode_id(desk.inbox_id, "Inbox")
    contact_pk, agent_pk = decode_id(desk.contact_id, "Contact"), decode_id(desk.user_ids["agent"], "User")
    now = datetime.now(UTC)
    async with db_engine.begin() as c:
        label = (
            await c.execute(
                text(
                    "INSERT INTO labels (account_id, title, description, color, show_on_sidebar, created_at) "
                    "VALUES (:a, 'bulk', '', '#000000', true, :t) RETURNING id"
                ),
                {"a": account_pk, "t": now},
            )
        ).scalar()
        for i in range(n):
            conv = (
                await c.execute(
                    text(
                        "INSERT INTO conversations (account_id, display_id, inbox_id, contact_id, status, assignee_id, last_activity_at, "
                        "additional_attributes, custom_attributes, created_at, updated_at) VALUES (:a, :d, :i, :c, 'open', :u, :t, '{}', '{}', :t, :t) RETURNING id"
                    ),
                    {
                        "a": account_pk,
                        "d": 1000 + i,
                        "i": inbox_pk,
                        "c": contact_pk,
                        "u": agent_pk if i % 2 else None,
                        "t": now - timedelta(seconds=i),
                    },
                )
            ).scalar()
            await c.execute(
                text(
                    "INSERT INTO messages (account_id, conversation_id, inbox_id, message_type, content, private, sender_type, "
                    "sender_id, content_attributes, created_at) VALUES (:a, :c, :i, 'incoming', :m, false, 'contact', :s, '{}', :t)"
                ),
                {"a": account_pk, "c": conv, "i": inbox_pk, "m": f"message {i}", "s": contact_pk, "t": now},
            )
            await c.execute(
                text("INSERT INTO conversation_labels (conversation_id, label_id, account_id) VALUES (:c, :l, :a)"),
                {"c": conv, "l": label, "a": account_pk},
            )


async def test_conversation_list_statement_count_does_not_grow_with_the_page(gql, smtp, server, db_engine):
    desk = await build_desk(gql, smtp)
    await seed(db_engine, desk, 100)
    engine = server.app.state.services.engine
    await desk.data(desk.agent, LIST, {"first": 1})  # the agent's credential is resolved (and kept) once
    counts = {}
    for first in (25, 100):
        with count_statements(engine) as statements:
            body = await desk.data(desk.agent, LIST, {"first": first})
        assert len(body["conversations"]["edges"]) == first
        counts[first] = len(statements)
    assert counts[25] == counts[100], counts
    # The list, and one batch each for contact, assignee, team, labels, inbox, last message, unread.
    assert counts[25] <= 10, counts


async def test_contact_and_membership_lists_do_not_grow_with_the_page(gql, smtp, server, db_engine):
    desk = await build_desk(gql, smtp)
    engine = server.app.state.services.engine
    async with db_engine.begin() as c:
        account_pk = decode_id((await desk.data(desk.admin, "{ account { id } }"))["account"]["id"], "Account")
        for i in range(100):
            await c.execute(
                text(
                    "INSERT INTO contacts (account_id, name, additional_attributes, custom_attributes, contact_type, blocked, created_at, updated_at) "
                    "VALUES (:a, :n, '{}', '{}', 'visitor', false, now(), now())"
                ),
                {"a": account_pk, "n": f"c{i}"},
            )
    await desk.data(desk.agent, "{ me { user { id } } }")
    counts = {}
    for first in (25, 100):
        with count_statements(engine) as statements:
            body = await desk.data(
                desk.agent,
                "query($f: Int) { contacts(first: $f) { edges { node { id name email } } } "
                "memberships(first: $f) { edges { node { user { email } account { name } customRole { name } } } } }",
                {"f": first},
            )
        assert len(body["contacts"]["edges"]) == first
        counts[first] = len(statements)
    assert counts[25] == counts[100], counts


async def test_an_authenticated_query_reads_no_credentials_and_opens_no_transaction(gql, smtp, server, db_engine):
    """Authentication comes from the process's cache of resolved credentials (a verified access token,
    a personal API token), and a query's statements run without BEGIN/ROLLBACK or a pre-ping."""
    desk = await build_desk(gql, smtp)
    await seed(db_engine, desk, 3)
    token = await gql.data('mutation { apiTokenCreate(input: {name: "ci"}) { secret } }', headers=desk.admin.headers())
    api = {"Authorization": f"Bearer {token['apiTokenCreate']['secret']}"}
    for headers in (desk.agent.headers(), api):
        await gql.data(LIST, {"first": 3}, headers=headers)  # resolved and kept
        async with count_all_statements(server) as (statements, data):
            body = await gql.data(LIST, {"first": 3}, headers=headers)
        assert body["conversations"]["edges"]
        words = [" ".join(s.split()).upper() for s in statements + data]
        control = [w for w in words if w.startswith(("BEGIN", "ROLLBACK", "COMMIT", "SELECT 1", ";"))]
        assert control == [], words
        auth_tables = ("USER_SESSIONS", "ACCOUNT_MEMBERSHIPS", "API_TOKENS")
        assert not [w for w in data if any(t in w.upper() for t in auth_tables)], data
        assert len(data) <= 9, data


async def test_a_mutation_keeps_its_transaction(gql, smtp, server):
    desk = await build_desk(gql, smtp)
    async with count_all_statements(server) as (statements, _data):
        body = await gql.data(
            'mutation { labelCreate(input: {title: "vip"}) { label { id } errors { code } } }',
            headers=desk.admin.headers(),
        )
    assert body["labelCreate"]["errors"] == []
    words = [" ".join(s.split()).upper() for s in statements]
    assert any(w.startswith("BEGIN") for w in words) and any(w.startswith("COMMIT") for w in words), words


async def test_messages_leave_the_credential_cache_alone(gql, smtp, server):
    """Every logged event moves the account's event sequence; only changes that decide authentication
    (here: none) may empty the cache, so the next request still reads no credentials."""
    desk = await build_desk(gql, smtp)
    conversation = await desk.new_conversation("Hello")
    reply = """mutation($c: ID!, $t: String!) { messageCreate(input: {conversationId: $c, content: $t}) {
      message { id } errors { code } } }"""
    await desk.data(desk.agent, reply, {"c": conversation["id"], "t": "first"})
    for text_ in ("second", "third"):
        async with count_all_statements(server) as (_statements, data):
            body = await desk.data(desk.agent, reply, {"c": conversation["id"], "t": text_})
        assert body["messageCreate"]["errors"] == []
        auth_tables = ("USER_SESSIONS", "ACCOUNT_MEMBERSHIPS", "API_TOKENS")
        assert not [w for w in data if any(t in w.upper() for t in auth_tables)], data
