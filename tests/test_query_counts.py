"""No N+1: list queries issue the same small number of SQL statements for a page of 25 and of 100."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, text

from infra.logs import request_id_var
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

    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", on_execute)


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
    counts = {}
    for first in (25, 100):
        with count_statements(engine) as statements:
            body = await desk.data(desk.agent, LIST, {"first": first})
        assert len(body["conversations"]["edges"]) == first
        counts[first] = len(statements)
    assert counts[25] == counts[100], counts
    # Actor, list, and one batch each for contact, assignee, team, labels, inbox, last message, unread.
    assert counts[25] <= 12, counts


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
