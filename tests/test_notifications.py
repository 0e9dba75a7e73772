"""Agents' notifications end to end: made by the worker from the event log, read and marked over
GraphQL, per-user settings, email digests through a real SMTP server."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from db.models import Event
from db.models.notifications import Notification
from db.session import create_session_factory
from domain import events
from domain.notifications import fanout
from schema.core.ids import decode_id
from tests.support.accounts import Member
from tests.support.desk import ERR, Desk, build_desk
from tests.test_query_counts import count_statements

NOTIFICATION = (
    "id notificationType title readAt createdAt conversation { id displayId } message { id content } actor { email }"
)
LIST = f"""query($first: Int, $after: String, $unread: Boolean) {{
  notifications(first: $first, after: $after, unreadOnly: $unread) {{
    edges {{ cursor node {{ {NOTIFICATION} }} }} pageInfo {{ hasNextPage endCursor }} }}
  notificationUnreadCount }}"""
SETTINGS = "{ notificationSettings { notificationType inApp email } }"
SETTINGS_UPDATE = f"""mutation($s: [NotificationSettingInput!]!) {{
  notificationSettingsUpdate(input: {{settings: $s}}) {{ settings {{ notificationType inApp email }} {ERR} }} }}"""
MARK_READ = f"""mutation($ids: [ID!]!) {{ notificationMarkRead(input: {{ids: $ids}}) {{
  notifications {{ id readAt }} unreadCount {ERR} }} }}"""
MARK_ALL = f"mutation {{ notificationMarkAllRead {{ markedCount unreadCount {ERR} }} }}"
DELETE = (
    f"mutation($id: ID!) {{ notificationDelete(input: {{id: $id}}) {{ notification {{ id }} unreadCount {ERR} }} }}"
)
ASSIGN = f"""mutation($id: ID!, $a: ID) {{ conversationAssign(id: $id, input: {{assigneeId: $a}}) {{
  conversation {{ id }} {ERR} }} }}"""
MESSAGE = f"""mutation($c: ID!, $t: String!, $p: Boolean, $type: MessageType) {{
  messageCreate(input: {{conversationId: $c, content: $t, private: $p, messageType: $type}}) {{ message {{ id }} {ERR} }} }}"""
CREATE = f"""mutation($i: ID!, $c: ID!, $a: ID) {{
  conversationCreate(input: {{inboxId: $i, contactId: $c, assigneeId: $a}}) {{ conversation {{ id displayId }} {ERR} }} }}"""


@pytest.fixture
async def desk(gql, smtp) -> Desk:
    return await build_desk(gql, smtp)


async def bot_of(desk: Desk) -> Member:
    """An API client of the account (a bot connected to the API inbox, the only one its token
    reaches): it posts the contact's messages there."""
    bot = await desk.data(desk.admin, 'mutation { botCreate(input: {name: "Channel"}) { bot { id } } }')
    connected = await desk.data(
        desk.admin,
        "mutation($i: ID!, $b: ID!) { inboxBotSet(id: $i, botId: $b) { errors { code } } }",
        {"i": desk.inbox_id, "b": bot["botCreate"]["bot"]["id"]},
    )
    assert connected["inboxBotSet"]["errors"] == [], connected
    token = await desk.data(
        desk.admin,
        'mutation($b: ID) { apiTokenCreate(input: {name: "channel", botId: $b}) { secret } }',
        {"b": bot["botCreate"]["bot"]["id"]},
    )
    return Member("bot", token["apiTokenCreate"]["secret"], "", desk.admin.account_id)


async def listed(desk: Desk, who: Member, **variables) -> tuple[list[dict], int]:
    body = await desk.data(who, LIST, {"first": 100, **variables})
    return [e["node"] for e in body["notifications"]["edges"]], body["notificationUnreadCount"]


async def wait_for(desk: Desk, who: Member, count: int, timeout: float = 15) -> list[dict]:
    """The worker makes notifications after the change commits: wait until `count` are there."""
    deadline = time.monotonic() + timeout
    while True:
        nodes, _ = await listed(desk, who)
        if len(nodes) >= count or time.monotonic() > deadline:
            assert len(nodes) == count, nodes
            return nodes
        await asyncio.sleep(0.1)


async def send(
    desk: Desk, who: Member, conversation_id: str, content: str, *, private: bool = False, incoming: bool = False
) -> str:
    body = await desk.data(
        who, MESSAGE, {"c": conversation_id, "t": content, "p": private, "type": "INCOMING" if incoming else "OUTGOING"}
    )
    assert body["messageCreate"]["errors"] == [], body
    return body["messageCreate"]["message"]["id"]


async def assign(desk: Desk, who: Member, conversation_id: str, assignee: str | None) -> None:
    body = await desk.data(who, ASSIGN, {"id": conversation_id, "a": assignee})
    assert body["conversationAssign"]["errors"] == [], body


async def create(desk: Desk, who: Member, assignee: str | None = None) -> dict:
    body = await desk.data(who, CREATE, {"i": desk.inbox_id, "c": desk.contact_id, "a": assignee})
    assert body["conversationCreate"]["errors"] == [], body
    return body["conversationCreate"]["conversation"]


async def update_settings(desk: Desk, who: Member, settings: list[dict]) -> list[dict]:
    body = await desk.data(who, SETTINGS_UPDATE, {"s": settings})
    assert body["notificationSettingsUpdate"]["errors"] == [], body
    return body["notificationSettingsUpdate"]["settings"]


def mention(user_gid: str, name: str) -> str:
    return f"@[{name}](mention://user/{decode_id(user_gid, 'User')}/{name})"


# --- in-app notifications -------------------------------------------------------------------------------


async def test_assignment_notifies_the_assignee_and_not_the_assigner(desk: Desk):
    conv = await desk.new_conversation()
    await assign(desk, desk.admin, conv["id"], desk.user_ids["agent"])
    [note] = await wait_for(desk, desk.agent, 1)
    assert note["notificationType"] == "CONVERSATION_ASSIGNMENT"
    assert note["title"] == f"A conversation (#{conv['displayId']}) has been assigned to you"
    assert note["conversation"]["id"] == conv["id"] and note["actor"]["email"] == desk.admin.email
    assert note["readAt"] is None and note["message"] is None
    assert await listed(desk, desk.admin) == ([], 0)
    assert (await listed(desk, desk.agent))[1] == 1


async def test_mention_notifies_only_colleagues_who_may_see_the_conversation(desk: Desk):
    conv = await desk.new_conversation()
    note = f"{mention(desk.user_ids['admin'], 'Ada')} and {mention(desk.user_ids['outsider'], 'Alan')}, a refund?"
    message_id = await send(desk, desk.agent, conv["id"], note, private=True)
    # The administrator sees every conversation: told once, by the mention (not again as a participant).
    [told] = await wait_for(desk, desk.admin, 1)
    assert told["notificationType"] == "CONVERSATION_MENTION"
    assert told["message"] == {"id": message_id, "content": note} and told["actor"]["email"] == desk.agent.email
    # The outsider does not work this inbox: the private note reaches them not at all.
    assert await listed(desk, desk.outsider) == ([], 0)
    assert await listed(desk, desk.agent) == ([], 0)


async def test_new_messages_in_assigned_and_participating_conversations(desk: Desk):
    bot = await bot_of(desk)
    conv = await desk.new_conversation()
    await assign(desk, desk.admin, conv["id"], desk.user_ids["agent"])
    await wait_for(desk, desk.agent, 1)
    # The administrator takes part by replying; the assignee is told of the new message.
    reply = await send(desk, desk.admin, conv["id"], "We are on it.")
    nodes = await wait_for(desk, desk.agent, 2)
    assert nodes[0]["notificationType"] == "ASSIGNED_CONVERSATION_NEW_MESSAGE" and nodes[0]["message"]["id"] == reply
    assert await listed(desk, desk.admin) == ([], 0)
    # The contact answers through the API channel: assignee and participant are both told.
    answer = await send(desk, bot, conv["id"], "Thanks!", incoming=True)
    nodes = await wait_for(desk, desk.agent, 3)
    assert nodes[0]["notificationType"] == "ASSIGNED_CONVERSATION_NEW_MESSAGE" and nodes[0]["message"]["id"] == answer
    [participating] = await wait_for(desk, desk.admin, 1)
    assert participating["notificationType"] == "PARTICIPATING_CONVERSATION_NEW_MESSAGE"
    assert participating["message"]["content"] == "Thanks!" and participating["actor"] is None
    # The agent writes as the channel: never told about their own action.
    await send(desk, desk.agent, conv["id"], "Also, the invoice", incoming=True)
    await wait_for(desk, desk.admin, 2)
    assert len((await listed(desk, desk.agent))[0]) == 3


async def test_an_agent_removed_from_the_inbox_is_told_nothing_more(desk: Desk, db_engine):
    bot = await bot_of(desk)
    conv = await desk.new_conversation()
    await assign(desk, desk.admin, conv["id"], desk.user_ids["agent"])
    await wait_for(desk, desk.agent, 1)
    await send(desk, desk.admin, conv["id"], "I will take a look too.")
    await wait_for(desk, desk.agent, 2)
    body = await desk.data(
        desk.admin,
        "mutation($i: ID!) { inboxMembersSet(id: $i, userIds: []) { errors { code } } }",
        {"i": desk.inbox_id},
    )
    assert body["inboxMembersSet"]["errors"] == []
    await send(desk, bot, conv["id"], "Hello?", incoming=True)
    await wait_for(desk, desk.admin, 1)  # the same message reaches the participating administrator
    # Nothing new for the removed agent, and what they were told about it is no longer theirs to read.
    assert await listed(desk, desk.agent) == ([], 0)
    async with create_session_factory(db_engine)() as session:
        kinds = (
            await session.scalars(
                select(Notification.notification_type).where(
                    Notification.user_id == decode_id(desk.user_ids["agent"], "User")
                )
            )
        ).all()
    assert sorted(kinds) == ["assigned_conversation_new_message", "conversation_assignment"]


async def test_settings_default_like_chatwoot_and_turned_off_mean_no_notification(desk: Desk):
    defaults = {
        s["notificationType"]: (s["inApp"], s["email"])
        for s in (await desk.data(desk.agent, SETTINGS))["notificationSettings"]
    }
    assert defaults == {
        "CONVERSATION_CREATION": (False, False),
        "CONVERSATION_ASSIGNMENT": (True, True),
        "CONVERSATION_MENTION": (True, False),
        "ASSIGNED_CONVERSATION_NEW_MESSAGE": (True, False),
        "PARTICIPATING_CONVERSATION_NEW_MESSAGE": (True, False),
        "SLA_MISSED_FIRST_RESPONSE": (True, False),
        "SLA_MISSED_NEXT_RESPONSE": (True, False),
        "SLA_MISSED_RESOLUTION": (True, False),
        "SLA_WARNING": (True, False),
    }
    changed = await update_settings(
        desk, desk.agent, [{"notificationType": "CONVERSATION_ASSIGNMENT", "inApp": False, "email": False}]
    )
    assert {s["notificationType"]: (s["inApp"], s["email"]) for s in changed}["CONVERSATION_ASSIGNMENT"] == (
        False,
        False,
    )
    await update_settings(desk, desk.outsider, [{"notificationType": "CONVERSATION_CREATION", "inApp": True}])
    members = await desk.data(
        desk.admin,
        "mutation($i: ID!, $u: [ID!]!) { inboxMembersSet(id: $i, userIds: $u) { errors { code } } }",
        {"i": desk.inbox_id, "u": [desk.user_ids["agent"], desk.user_ids["outsider"]]},
    )
    assert members["inboxMembersSet"]["errors"] == []
    # One change, one fan-out: the outsider (who asked) hears of the new conversation; the agent,
    # who turned assignments off and never turned new conversations on, hears nothing.
    conv = await create(desk, desk.admin, assignee=desk.user_ids["agent"])
    [created] = await wait_for(desk, desk.outsider, 1)
    assert created["notificationType"] == "CONVERSATION_CREATION" and created["conversation"]["id"] == conv["id"]
    assert created["title"] == f"A conversation (#{conv['displayId']}) has been created in API"
    assert await listed(desk, desk.agent) == ([], 0)


async def test_settings_update_refuses_bad_input_and_changes_nothing(desk: Desk):
    before = await desk.data(desk.agent, SETTINGS)
    cases = [
        (
            [
                {"notificationType": "CONVERSATION_MENTION", "email": True},
                {"notificationType": "CONVERSATION_MENTION", "inApp": False},
            ],
            [{"field": "settings.1.type", "code": "DUPLICATE", "message": "Give each notification type once."}],
        ),
        (
            [
                {"notificationType": "CONVERSATION_MENTION", "email": True},
                {"notificationType": "CONVERSATION_CREATION", "inApp": None},
            ],
            [
                {
                    "field": "settings.1.inApp",
                    "code": "INVALID",
                    "message": "Give true or false, or leave the field out.",
                }
            ],
        ),
    ]
    for settings, errors in cases:
        body = await desk.data(desk.agent, SETTINGS_UPDATE, {"s": settings})
        assert body["notificationSettingsUpdate"] == {"settings": None, "errors": errors}
    assert await desk.data(desk.agent, SETTINGS) == before
    # Omitted channels stay as they were; settings are per user.
    after = await update_settings(desk, desk.agent, [{"notificationType": "CONVERSATION_MENTION", "email": True}])
    assert {s["notificationType"]: (s["inApp"], s["email"]) for s in after}["CONVERSATION_MENTION"] == (True, True)
    assert await desk.data(desk.outsider, SETTINGS) == before


async def test_mark_read_mark_all_read_delete_and_pages(desk: Desk):
    convs = []
    for n in range(3):
        # One at a time: each conversation's notification is made by its own job, and jobs run
        # concurrently, so three at once could be notified in any order.
        convs.append(await create(desk, desk.admin, assignee=desk.user_ids["agent"]))
        nodes = await wait_for(desk, desk.agent, n + 1)
    assert [n["conversation"]["id"] for n in nodes] == [c["id"] for c in reversed(convs)]  # newest first
    page = await desk.data(desk.agent, LIST, {"first": 2})
    assert page["notifications"]["pageInfo"]["hasNextPage"] is True
    rest = await desk.data(desk.agent, LIST, {"first": 2, "after": page["notifications"]["pageInfo"]["endCursor"]})
    assert [e["node"]["id"] for e in rest["notifications"]["edges"]] == [nodes[2]["id"]]
    assert rest["notifications"]["pageInfo"]["hasNextPage"] is False

    marked = (await desk.data(desk.agent, MARK_READ, {"ids": [nodes[0]["id"]]}))["notificationMarkRead"]
    assert marked["errors"] == [] and marked["unreadCount"] == 2
    assert marked["notifications"][0]["id"] == nodes[0]["id"] and marked["notifications"][0]["readAt"] is not None
    unread, count = await listed(desk, desk.agent, unread=True)
    assert [n["id"] for n in unread] == [nodes[1]["id"], nodes[2]["id"]] and count == 2

    # Someone else's notification (even an administrator's colleague's) is not found, and nothing changes.
    for who, ids in (
        (desk.admin, [nodes[1]["id"]]),
        (desk.agent, [nodes[1]["id"], "Tm90aWZpY2F0aW9uOjk5OTk5"]),
        (desk.agent, ["not-an-id"]),
    ):
        refused = (await desk.data(who, MARK_READ, {"ids": ids}))["notificationMarkRead"]
        assert refused == {
            "notifications": None,
            "unreadCount": None,
            "errors": [{"field": "ids", "code": "NOT_FOUND", "message": "No such notification."}],
        }
    body = await desk.run(desk.admin, DELETE, {"id": nodes[1]["id"]})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"]
    empty = (await desk.data(desk.agent, MARK_READ, {"ids": []}))["notificationMarkRead"]
    assert [e["code"] for e in empty["errors"]] == ["REQUIRED"]
    assert (await listed(desk, desk.agent))[1] == 2

    assert (await desk.data(desk.admin, MARK_ALL))["notificationMarkAllRead"] == {
        "markedCount": 0,
        "unreadCount": 0,
        "errors": [],
    }
    assert (await listed(desk, desk.agent))[1] == 2
    assert (await desk.data(desk.agent, MARK_ALL))["notificationMarkAllRead"] == {
        "markedCount": 2,
        "unreadCount": 0,
        "errors": [],
    }
    deleted = (await desk.data(desk.agent, DELETE, {"id": nodes[2]["id"]}))["notificationDelete"]
    assert deleted == {"notification": {"id": nodes[2]["id"]}, "unreadCount": 0, "errors": []}
    assert [n["id"] for n in (await listed(desk, desk.agent))[0]] == [nodes[0]["id"], nodes[1]["id"]]


async def test_another_account_reads_none_of_them(desk: Desk, gql, smtp):
    from tests.support.accounts import signup

    await create(desk, desk.admin, assignee=desk.user_ids["agent"])
    [note] = await wait_for(desk, desk.agent, 1)
    other = await signup(gql, account="Other")
    assert (await gql.data(LIST, {"first": 100}, headers=other.headers()))["notifications"]["edges"] == []
    refused = (await gql.data(MARK_READ, {"ids": [note["id"]]}, headers=other.headers()))["notificationMarkRead"]
    assert [e["code"] for e in refused["errors"]] == ["NOT_FOUND"]
    # The agent's own token with the other account's header: not a member there.
    body = await gql.execute(LIST, {"first": 10}, headers=desk.agent.headers(other.account_id))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await listed(desk, desk.agent))[0][0]["readAt"] is None


async def test_the_fan_out_run_again_for_the_same_events_adds_nothing(desk: Desk, db_engine):
    conv = await desk.new_conversation()
    await assign(desk, desk.admin, conv["id"], desk.user_ids["agent"])
    await send(desk, desk.admin, conv["id"], "On it")
    await wait_for(desk, desk.agent, 2)
    sessions = create_session_factory(db_engine)
    async with sessions() as session:
        event_ids = list((await session.scalars(select(Event.id).where(Event.type.in_(fanout.CONSUMED)))).all())
        before = await session.scalar(select(func.count()).select_from(Notification))
        announced = await session.scalar(select(func.count()).where(Event.type == "notification.created"))
    assert before == 2 and announced == 2
    for _ in range(2):
        async with sessions() as session:
            assert await fanout.fan_out(session, event_ids, email_delay=timedelta(minutes=3)) == 0
            await events.commit(session)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Notification)) == before
        assert await session.scalar(select(func.count()).where(Event.type == "notification.created")) == announced
    assert len((await listed(desk, desk.agent))[0]) == 2


async def test_each_new_notification_is_recorded_for_real_time_clients(desk: Desk, db_engine):
    conv = await desk.new_conversation()
    await assign(desk, desk.admin, conv["id"], desk.user_ids["agent"])
    [note] = await wait_for(desk, desk.agent, 1)
    async with create_session_factory(db_engine)() as session:
        rows = (
            await session.execute(select(Event.account_id, Event.payload).where(Event.type == "notification.created"))
        ).all()
    assert [payload for _, payload in rows] == [
        {"user_id": decode_id(desk.user_ids["agent"], "User"), "notification_id": decode_id(note["id"], "Notification")}
    ]
    assert rows[0][0] == decode_id((await desk.data(desk.admin, "{ account { id } }"))["account"]["id"], "Account")


async def test_notification_list_statement_count_does_not_grow_with_the_page(desk: Desk, server, db_engine):
    conv = await desk.new_conversation()
    account_pk = decode_id((await desk.data(desk.admin, "{ account { id } }"))["account"]["id"], "Account")
    agent_pk, admin_pk = decode_id(desk.user_ids["agent"], "User"), decode_id(desk.user_ids["admin"], "User")
    conv_pk = decode_id(conv["id"], "Conversation")
    now = datetime.now(UTC)
    async with db_engine.begin() as c:
        for i in range(100):
            message = (
                await c.execute(
                    text(
                        "INSERT INTO messages (account_id, conversation_id, inbox_id, message_type, content, private, sender_type, "
                        "sender_id, content_attributes, created_at) SELECT account_id, id, inbox_id, 'outgoing', :m, false, 'user', :u, '{}', :t "
                        "FROM conversations WHERE id = :c RETURNING id"
                    ),
                    {"m": f"message {i}", "u": admin_pk, "t": now, "c": conv_pk},
                )
            ).scalar()
            await c.execute(
                text(
                    "INSERT INTO notifications (account_id, user_id, notification_type, conversation_id, message_id, actor_user_id, event_id, "
                    "title, in_app, created_at) VALUES (:a, :u, 'assigned_conversation_new_message', :c, :m, :actor, :e, 't', true, :t)"
                ),
                {
                    "a": account_pk,
                    "u": agent_pk,
                    "c": conv_pk,
                    "m": message,
                    "actor": admin_pk,
                    "e": 1000 + i,
                    "t": now,
                },
            )
    engine = server.app.state.services.engine
    counts = {}
    await desk.data(desk.agent, LIST, {"first": 1})  # warms the credential cache: only the list is counted
    for first in (25, 100):
        with count_statements(engine) as statements:
            body = await desk.data(desk.agent, LIST, {"first": first})
        assert len(body["notifications"]["edges"]) == first
        counts[first] = len(statements)
    assert counts[25] == counts[100], counts
    # Actor, list, unread count, and one batch each for conversation, message, user.
    assert counts[25] <= 8, counts


# --- email digests -----------------------------------------------------------------------------------------


@pytest.fixture
def short_email_delay(server, monkeypatch):
    """Email notifications wait seconds here, not minutes (the worker reads the setting per job)."""
    monkeypatch.setattr(server.settings, "notification_email_delay_seconds", 3.0)


@pytest.fixture
def mailbox(smtp, desk):
    """The SMTP server, emptied of the invitations that built the desk."""
    smtp.clear()
    return smtp


def emails_to(smtp, address: str) -> list:
    return [m for m in list(smtp.messages) if address.lower() in str(m["To"]).lower()]


async def test_an_email_digest_collects_a_busy_conversation_into_one_email(desk: Desk, mailbox, short_email_delay):
    smtp = mailbox
    bot = await bot_of(desk)
    await update_settings(desk, desk.agent, [{"notificationType": "ASSIGNED_CONVERSATION_NEW_MESSAGE", "email": True}])
    conv = await desk.new_conversation()
    await assign(desk, desk.admin, conv["id"], desk.user_ids["agent"])
    for text_ in ("First question", "Second <b>question</b> & more", "Third question"):
        await send(desk, bot, conv["id"], text_, incoming=True)
    await wait_for(desk, desk.agent, 4)
    msg = await asyncio.to_thread(smtp.wait_for, desk.agent.email, 20)
    await asyncio.sleep(3)  # a further sweep sends nothing more
    assert len(emails_to(smtp, desk.agent.email)) == 1
    assert str(msg["Subject"]) == f"4 new notifications in conversation #{conv['displayId']}"
    body = smtp.text_of(msg)
    assert (
        "You have 4 new notifications:" in body
        and f"A conversation (#{conv['displayId']}) has been assigned to you" in body
    )
    for text_ in ("First question", "Second <b>question</b> & more", "Third question"):
        assert text_ in body
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "Second &lt;b&gt;question&lt;/b&gt; &amp; more" in html and "<b>question</b>" not in html
    assert emails_to(smtp, desk.admin.email) == []


async def test_email_digest_skips_what_was_read_and_what_is_turned_off(
    desk: Desk, mailbox, short_email_delay, db_engine
):
    smtp = mailbox
    bot = await bot_of(desk)
    # The administrator wants participating messages by email (and is the run's witness); the agent
    # keeps the default (assignments by email) but reads it in time; the outsider turned email off.
    await update_settings(
        desk, desk.admin, [{"notificationType": "PARTICIPATING_CONVERSATION_NEW_MESSAGE", "email": True}]
    )
    conv = await desk.new_conversation()
    await send(desk, desk.admin, conv["id"], "Looking into it")
    await assign(desk, desk.admin, conv["id"], desk.user_ids["agent"])
    await wait_for(desk, desk.agent, 1)
    assert (await desk.data(desk.agent, MARK_ALL))["notificationMarkAllRead"]["unreadCount"] == 0
    await send(desk, bot, conv["id"], "Any news?", incoming=True)
    await desk.data(desk.agent, MARK_ALL)
    msg = await asyncio.to_thread(smtp.wait_for, desk.admin.email, 20)
    assert str(msg["Subject"]) == f"A new message is created in conversation (#{conv['displayId']})"
    assert "Any news?" in smtp.text_of(msg)
    await asyncio.sleep(3)
    assert emails_to(smtp, desk.agent.email) == []
    # With email off, nothing is due at all.
    await update_settings(
        desk, desk.admin, [{"notificationType": "PARTICIPATING_CONVERSATION_NEW_MESSAGE", "email": False}]
    )
    await send(desk, bot, conv["id"], "Hello again?", incoming=True)
    await wait_for(desk, desk.admin, 2)
    async with create_session_factory(db_engine)() as session:
        pending = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.email_due_at.is_not(None), Notification.email_done_at.is_(None))
        )
    assert pending == 0
    assert len(emails_to(smtp, desk.admin.email)) == 1
