"""Scheduled messages over GraphQL with the server's scheduler running: typed refusals, edit and
cancel before the time, sent exactly once (also while other schedulers run the same pass), an
author who lost access, another account's, and the list's statements."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from db.session import create_engine, create_session_factory
from tests.support.accounts import signup
from tests.support.desk import ERR, Desk, build_desk
from tests.test_query_counts import count_statements

SM = "id conversationId content private sendAt status sentAt cancelledAt cancelReason author { id } message { id content }"
CREATE = f"""mutation($i: ScheduledMessageCreateInput!) {{ scheduledMessageCreate(input: $i) {{
  scheduledMessage {{ {SM} }} {ERR} }} }}"""
UPDATE = f"""mutation($id: ID!, $i: ScheduledMessageUpdateInput!) {{ scheduledMessageUpdate(id: $id, input: $i) {{
  scheduledMessage {{ {SM} }} {ERR} }} }}"""
CANCEL = f"""mutation($id: ID!) {{ scheduledMessageCancel(id: $id) {{ scheduledMessage {{ {SM} }} {ERR} }} }}"""
LIST = f"""query($c: ID!, $s: ScheduledMessageStatus, $first: Int, $after: String) {{
  scheduledMessages(conversationId: $c, status: $s, first: $first, after: $after) {{
  edges {{ cursor node {{ {SM} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""


@pytest.fixture
async def desk(gql, smtp) -> Desk:
    return await build_desk(gql, smtp)


def at(**delta) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def schedule(desk: Desk, who, conversation_id: str, content: str, send_at: str, private: bool = False) -> dict:
    body = await desk.data(
        who,
        CREATE,
        {"i": {"conversationId": conversation_id, "content": content, "sendAt": send_at, "private": private}},
    )
    return body["scheduledMessageCreate"]


async def listed(desk: Desk, who, conversation_id: str, status: str | None = None) -> list[dict]:
    body = await desk.data(who, LIST, {"c": conversation_id, "s": status, "first": 100})
    return [e["node"] for e in body["scheduledMessages"]["edges"]]


async def wait_sent(desk: Desk, conversation_id: str, count: int, timeout: float = 20) -> list[dict]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        sent = await listed(desk, desk.admin, conversation_id, "SENT")
        if len(sent) >= count or asyncio.get_running_loop().time() > deadline:
            return sent
        await asyncio.sleep(0.2)


async def messages_of(db_engine, scheduled_pk: int) -> list[tuple]:
    async with db_engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT id, content, sender_type, sender_id, private, content_attributes FROM messages "
                "WHERE (content_attributes ->> 'scheduled_message_id')::bigint = :s"
            ),
            {"s": scheduled_pk},
        )
        return [tuple(r) for r in rows]


def pk(global_id: str) -> int:
    from schema.core.ids import decode_id

    return decode_id(global_id, "ScheduledMessage")


async def test_refusals_are_typed_and_change_nothing(desk: Desk, gql):
    conv = await desk.new_conversation()
    cases = [
        ("content", at(hours=1), "content", "REQUIRED", "Write a message."),
        ("past", at(minutes=-1), "sendAt", "IN_PAST", "Schedule the message for a time in the future."),
        ("far", at(days=400), "sendAt", "TOO_FAR_AHEAD", "Schedule the message at most a year ahead."),
    ]
    for label, send_at, field, code, message in cases:
        result = await schedule(desk, desk.agent, conv["id"], "   " if label == "content" else "Later", send_at)
        assert result["scheduledMessage"] is None, label
        assert result["errors"] == [{"field": field, "code": code, "message": message}], label
    # Without an offset the time means nothing.
    naive = await schedule(desk, desk.agent, conv["id"], "Later", "2027-01-01T09:00:00")
    assert [e["code"] for e in naive["errors"]] == ["INVALID"]
    # A conversation of an inbox the agent does not work, and one of another account: not found.
    for who, conversation_id in ((desk.outsider, conv["id"]),):
        refused = await schedule(desk, who, conversation_id, "Later", at(hours=1))
        assert refused["errors"] == [
            {"field": "conversationId", "code": "NOT_FOUND", "message": "No such conversation."}
        ]
    other = await signup(gql, account="Other")
    foreign = await gql.data(
        CREATE, {"i": {"conversationId": conv["id"], "content": "x", "sendAt": at(hours=1)}}, headers=other.headers()
    )
    assert [e["code"] for e in foreign["scheduledMessageCreate"]["errors"]] == ["NOT_FOUND"]
    assert await listed(desk, desk.admin, conv["id"]) == []


async def test_edit_and_cancel_before_sending_then_sent_once_and_refused_after(desk: Desk, db_engine):
    conv = await desk.new_conversation()
    later = await schedule(desk, desk.agent, conv["id"], "Following up next week", at(days=7))
    assert later["errors"] == [] and later["scheduledMessage"]["status"] == "PENDING"
    later_id = later["scheduledMessage"]["id"]
    soon = await schedule(desk, desk.agent, conv["id"], "A note for later", at(days=3), private=True)
    soon_id = soon["scheduledMessage"]["id"]

    # Edit: content and time; another agent who is not its author may not edit it.
    edited = await desk.data(desk.agent, UPDATE, {"id": soon_id, "i": {"content": "Checking in", "private": False}})
    assert edited["scheduledMessageUpdate"]["errors"] == []
    assert edited["scheduledMessageUpdate"]["scheduledMessage"]["content"] == "Checking in"
    assert edited["scheduledMessageUpdate"]["scheduledMessage"]["private"] is False
    past = await desk.data(desk.agent, UPDATE, {"id": soon_id, "i": {"sendAt": at(minutes=-5)}})
    assert [e["code"] for e in past["scheduledMessageUpdate"]["errors"]] == ["IN_PAST"]
    moved = await desk.data(desk.agent, UPDATE, {"id": soon_id, "i": {"sendAt": at(seconds=2)}})
    assert moved["scheduledMessageUpdate"]["errors"] == []

    # Cancel: once; a second time is refused.
    cancelled = await desk.data(desk.agent, CANCEL, {"id": later_id})
    assert cancelled["scheduledMessageCancel"]["scheduledMessage"]["status"] == "CANCELLED"
    assert cancelled["scheduledMessageCancel"]["scheduledMessage"]["cancelReason"] == "cancelled_by_author"
    again = await desk.data(desk.agent, CANCEL, {"id": later_id})
    assert again["scheduledMessageCancel"]["errors"] == [
        {"field": "id", "code": "ALREADY_CANCELLED", "message": "This scheduled message was cancelled."}
    ]

    sent = await wait_sent(desk, conv["id"], 1)
    assert [s["id"] for s in sent] == [soon_id]
    assert sent[0]["message"]["content"] == "Checking in" and sent[0]["sentAt"]
    assert sent[0]["author"]["id"] == desk.user_ids["agent"]
    rows = await messages_of(db_engine, pk(soon_id))
    assert len(rows) == 1
    _, content, sender_type, sender_id, private, attributes = rows[0]
    assert (content, sender_type, private) == ("Checking in", "user", False)
    assert str(sender_id) == str(pk_user(desk.user_ids["agent"]))
    assert "author_had_left" not in attributes
    # It counts as the agent's reply: the conversation no longer waits.
    conversation = (await desk.conversation(desk.agent, conv["id"]))["data"]["conversation"]
    assert conversation["waitingSince"] is None and conversation["firstReplyCreatedAt"]
    assert conversation["lastMessage"] == {"content": "Checking in", "messageType": "OUTGOING"}

    for doc, variables, name in (
        (UPDATE, {"id": soon_id, "i": {"content": "Too late"}}, "scheduledMessageUpdate"),
        (CANCEL, {"id": soon_id}, "scheduledMessageCancel"),
    ):
        refused = await desk.data(desk.agent, doc, variables)
        assert refused[name]["errors"] == [
            {"field": "id", "code": "ALREADY_SENT", "message": "This message was already sent."}
        ]
    await asyncio.sleep(1.0)  # more scheduler passes: still one message
    assert len(await messages_of(db_engine, pk(soon_id))) == 1
    statuses = {s["id"]: s["status"] for s in await listed(desk, desk.admin, conv["id"])}
    assert statuses == {later_id: "CANCELLED", soon_id: "SENT"}


def pk_user(global_id: str) -> int:
    from schema.core.ids import decode_id

    return decode_id(global_id, "User")


async def test_only_the_author_or_an_administrator_edits(desk: Desk):
    conv = await desk.new_conversation()
    mine = await schedule(desk, desk.admin, conv["id"], "From the admin", at(days=1))
    body = await desk.run(desk.agent, UPDATE, {"id": mine["scheduledMessage"]["id"], "i": {"content": "Mine now"}})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    theirs = await schedule(desk, desk.agent, conv["id"], "From the agent", at(days=1))
    by_admin = await desk.data(desk.admin, UPDATE, {"id": theirs["scheduledMessage"]["id"], "i": {"content": "Fixed"}})
    assert by_admin["scheduledMessageUpdate"]["errors"] == []
    # Any agent of the conversation may cancel (the author may be away).
    cancelled = await desk.data(desk.agent, CANCEL, {"id": mine["scheduledMessage"]["id"]})
    assert cancelled["scheduledMessageCancel"]["scheduledMessage"]["cancelReason"] == "cancelled_by_agent"
    assert {m["content"] for m in await listed(desk, desk.admin, conv["id"], "PENDING")} == {"Fixed"}


async def test_sent_once_while_several_schedulers_run_the_same_pass(desk: Desk, db_engine):
    """The server's scheduler and three more (another process's, as far as the database can tell: their
    own engine and connections) claim the same due rows at once."""
    from workers.scheduler import send_scheduled

    conv = await desk.new_conversation()
    ids = []
    for n in range(20):
        made = await schedule(desk, desk.agent, conv["id"], f"Batch {n}", at(seconds=1.5))
        assert made["errors"] == [], made
        ids.append(made["scheduledMessage"]["id"])
    engine = create_engine(str(db_engine.url.render_as_string(hide_password=False)), pool_size=4, max_overflow=0)
    try:
        sessions = create_session_factory(engine)
        await asyncio.sleep(1.6)
        results = await asyncio.gather(*(send_scheduled(sessions) for _ in range(3)))
    finally:
        await engine.dispose()
    sent = await wait_sent(desk, conv["id"], 20)
    assert sorted(s["id"] for s in sent) == sorted(ids)
    assert sum(results) <= 20
    async with db_engine.connect() as conn:
        per_row = (
            await conn.execute(
                text(
                    "SELECT content_attributes ->> 'scheduled_message_id', count(*) FROM messages "
                    "WHERE content_attributes ? 'scheduled_message_id' GROUP BY 1"
                )
            )
        ).all()
        created = await conn.scalar(
            text(
                "SELECT count(*) FROM events e JOIN messages m ON m.id = e.message_id "
                "WHERE e.type = 'message.created' AND m.content_attributes ? 'scheduled_message_id'"
            )
        )
    assert len(per_row) == 20 and all(count == 1 for _, count in per_row), per_row
    assert created == 20


async def test_an_author_who_lost_access_still_sends_under_their_name(desk: Desk, db_engine):
    conv = await desk.new_conversation()
    made = await schedule(desk, desk.agent, conv["id"], "As promised, the refund went out", at(seconds=1.5))
    assert made["errors"] == []
    removed = await desk.data(
        desk.admin,
        f"mutation($i: ID!) {{ inboxMembersSet(id: $i, userIds: []) {{ inbox {{ id }} {ERR} }} }}",
        {"i": desk.inbox_id},
    )
    assert removed["inboxMembersSet"]["errors"] == []
    sent = await wait_sent(desk, conv["id"], 1)
    assert len(sent) == 1 and sent[0]["author"]["id"] == desk.user_ids["agent"]
    rows = await messages_of(db_engine, pk(made["scheduledMessage"]["id"]))
    assert len(rows) == 1
    assert rows[0][2] == "user" and rows[0][5]["author_had_left"] is True


async def test_another_accounts_scheduled_messages_are_not_found(desk: Desk, gql):
    conv = await desk.new_conversation()
    ours = (await schedule(desk, desk.agent, conv["id"], "Ours", at(days=2)))["scheduledMessage"]["id"]
    other = await signup(gql, account="Other")
    h = other.headers()
    body = await gql.execute(LIST, {"c": conv["id"]}, headers=h)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    for doc, variables, name in (
        (UPDATE, {"id": ours, "i": {"content": "Pwned"}}, "scheduledMessageUpdate"),
        (CANCEL, {"id": ours}, "scheduledMessageCancel"),
    ):
        refused = await gql.data(doc, variables, headers=h)
        assert refused[name]["errors"] == [
            {"field": "id", "code": "NOT_FOUND", "message": "No such scheduled message."}
        ]
    # Nor through the outsider of our own account, who does not work the inbox.
    body = await desk.run(desk.outsider, LIST, {"c": conv["id"]})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert [(m["content"], m["status"]) for m in await listed(desk, desk.admin, conv["id"])] == [("Ours", "PENDING")]


async def test_the_list_pages_by_send_time_in_a_fixed_number_of_statements(desk: Desk, server):
    conv = await desk.new_conversation()
    for n in range(30):
        assert (await schedule(desk, desk.agent, conv["id"], f"Message {n}", at(days=1, minutes=n)))["errors"] == []
    first = await desk.data(desk.agent, LIST, {"c": conv["id"], "first": 25})
    page = first["scheduledMessages"]
    assert [e["node"]["content"] for e in page["edges"]] == [f"Message {n}" for n in range(25)]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = await desk.data(desk.agent, LIST, {"c": conv["id"], "first": 25, "after": page["pageInfo"]["endCursor"]})
    assert [e["node"]["content"] for e in rest["scheduledMessages"]["edges"]] == [f"Message {n}" for n in range(25, 30)]

    counts = []
    for first_n in (5, 30):
        with count_statements(server.app.state.services.engine) as statements:
            body = await desk.data(desk.agent, LIST, {"c": conv["id"], "first": first_n})
        assert len(body["scheduledMessages"]["edges"]) == first_n
        assert len([s for s in statements if "FROM scheduled_messages" in s]) == 1, statements
        counts.append(len(statements))
    assert counts[0] == counts[1], counts  # authors come through one loader batch, whatever the page size
    assert counts[1] <= 6, counts
