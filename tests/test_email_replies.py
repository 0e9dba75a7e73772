"""Agents' replies in an email inbox reach the contact by email through a real SMTP server, threaded
with Message-ID, In-Reply-To and References."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text

from db.models import Event, OutboxJob
from db.session import create_session_factory
from domain import email_replies, events
from schema.core.ids import decode_id
from tests.support.desk import ERR, Desk, build_desk

CONTACT_EMAIL = "carla@example.test"
MESSAGE = f"""mutation($c: ID!, $t: String!, $p: Boolean, $r: ID) {{
  messageCreate(input: {{conversationId: $c, content: $t, private: $p, inReplyTo: $r}}) {{ message {{ id }} {ERR} }} }}"""
MESSAGES = """query($id: ID!) { conversation(id: $id) { messages(first: 50) { edges { node { id content contentAttributes } } } } }"""


@pytest.fixture
async def desk(gql, smtp) -> Desk:
    return await build_desk(gql, smtp)


@pytest.fixture
async def email_inbox(desk: Desk, smtp) -> str:
    body = await desk.data(
        desk.admin,
        f"""mutation {{ inboxCreate(input: {{name: "Support", channelType: EMAIL,
      channelConfig: {{email: "support@shop.test"}}}}) {{ inbox {{ id }} {ERR} }} }}""",
    )
    inbox_id = body["inboxCreate"]["inbox"]["id"]
    members = await desk.data(
        desk.admin,
        "mutation($i: ID!, $u: [ID!]!) { inboxMembersSet(id: $i, userIds: $u) { errors { code } } }",
        {"i": inbox_id, "u": [desk.user_ids["agent"]]},
    )
    assert members["inboxMembersSet"]["errors"] == []
    smtp.clear()  # the invitations that built the desk
    return inbox_id


async def start(desk: Desk, inbox_id: str, message: str) -> dict:
    body = await desk.data(
        desk.agent,
        f"""mutation($i: ID!, $c: ID!, $m: String) {{
      conversationCreate(input: {{inboxId: $i, contactId: $c, message: $m}}) {{ conversation {{ id displayId }} {ERR} }} }}""",
        {"i": inbox_id, "c": desk.contact_id, "m": message},
    )
    assert body["conversationCreate"]["errors"] == [], body
    return body["conversationCreate"]["conversation"]


async def reply(
    desk: Desk, conversation_id: str, content: str, *, private: bool = False, in_reply_to: str | None = None
) -> str:
    body = await desk.data(desk.agent, MESSAGE, {"c": conversation_id, "t": content, "p": private, "r": in_reply_to})
    assert body["messageCreate"]["errors"] == [], body
    return body["messageCreate"]["message"]["id"]


async def email_with(smtp, content: str, timeout: float = 15):
    """The email to the contact whose text is `content`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for msg in list(smtp.messages):
            if CONTACT_EMAIL in str(msg["To"]) and smtp.text_of(msg).replace("\r\n", "\n").strip() == content:
                return msg
        await asyncio.sleep(0.05)
    raise AssertionError(f"no email with {content!r}; got {[smtp.text_of(m) for m in smtp.messages]}")


def to_contact(smtp) -> list:
    return [m for m in list(smtp.messages) if CONTACT_EMAIL in str(m["To"])]


async def stored_email(desk: Desk, conversation_id: str, message_id: str) -> dict:
    nodes = (await desk.data(desk.agent, MESSAGES, {"id": conversation_id}))["conversation"]["messages"]["edges"]
    return next(n["node"] for n in nodes if n["node"]["id"] == message_id)["contentAttributes"].get("email")


async def test_replies_are_emailed_as_one_thread(desk: Desk, email_inbox: str, smtp):
    conv = await start(desk, email_inbox, "Hello Carla,\nyour order <#4711> & more ships today.")
    first = await email_with(smtp, "Hello Carla,\nyour order <#4711> & more ships today.")
    assert str(first["From"]) == "Alan from Support <support@shop.test>"
    assert str(first["Reply-To"]).startswith("reply+") and str(first["Reply-To"]).endswith("@shop.test")
    assert str(first["To"]) == CONTACT_EMAIL and str(first["X-Parley-Loop"]) == "support@shop.test"
    assert str(first["Subject"]) == f"[#{conv['displayId']}] New messages on this conversation"
    assert first["In-Reply-To"] is None and first["References"] is None
    first_id = str(first["Message-ID"])
    assert first_id.endswith("@shop.test>")
    html = first.get_body(preferencelist=("html",)).get_content()
    assert "your order &lt;#4711&gt; &amp; more ships today." in html and "<#4711>" not in html

    # The Message-ID is kept on the message; the next reply threads onto it.
    nodes = (await desk.data(desk.agent, MESSAGES, {"id": conv["id"]}))["conversation"]["messages"]["edges"]
    assert nodes[0]["node"]["contentAttributes"]["email"]["message_id"] == first_id
    second_pk = await reply(desk, conv["id"], "Tracking number: 123")
    second = await email_with(smtp, "Tracking number: 123")
    second_id = str(second["Message-ID"])
    assert second_id != first_id
    assert str(second["In-Reply-To"]) == first_id and str(second["References"]) == first_id
    assert (await stored_email(desk, conv["id"], second_pk))["in_reply_to"] == first_id

    # A private note is never emailed, nor referenced.
    await reply(desk, conv["id"], "Internal: she called twice", private=True)
    await reply(desk, conv["id"], "Anything else?")
    third = await email_with(smtp, "Anything else?")
    assert str(third["In-Reply-To"]) == second_id and str(third["References"]).split() == [first_id, second_id]
    await asyncio.sleep(1)
    assert len(to_contact(smtp)) == 3
    assert all("Internal" not in smtp.text_of(m) for m in smtp.messages)


async def test_a_reply_answers_the_incoming_email_it_names(desk: Desk, email_inbox: str, smtp, db_engine):
    conv = await start(desk, email_inbox, "We received your request.")
    first_id = str((await email_with(smtp, "We received your request."))["Message-ID"])
    # The contact's email as the email channel stores it: its own Message-ID in the attributes.
    conv_pk = decode_id(conv["id"], "Conversation")
    async with db_engine.begin() as c:
        await c.execute(
            text(
                'UPDATE conversations SET additional_attributes = \'{"mail_subject": "Where is my order?"}\' WHERE id = :c'
            ),
            {"c": conv_pk},
        )
        incoming = (
            await c.execute(
                text(
                    "INSERT INTO messages (account_id, conversation_id, inbox_id, message_type, content, private, sender_type, sender_id, "
                    "content_attributes, created_at) SELECT account_id, id, inbox_id, 'incoming', 'Still waiting', false, 'contact', contact_id, "
                    '\'{"email": {"message_id": "<abc.123@customer.test>"}}\', :t FROM conversations WHERE id = :c RETURNING id'
                ),
                {"c": conv_pk, "t": datetime.now(UTC)},
            )
        ).scalar()
    await reply(desk, conv["id"], "Sorry for the wait!")
    answer = await email_with(smtp, "Sorry for the wait!")
    assert str(answer["Subject"]) == "Re: Where is my order?"
    assert str(answer["In-Reply-To"]) == "<abc.123@customer.test>"
    assert str(answer["References"]).split() == [first_id, "<abc.123@customer.test>"]
    # Answering a particular earlier message threads onto that one.
    nodes = (await desk.data(desk.agent, MESSAGES, {"id": conv["id"]}))["conversation"]["messages"]["edges"]
    first_message = next(n["node"]["id"] for n in nodes if n["node"]["content"] == "We received your request.")
    assert incoming
    await reply(desk, conv["id"], "About the first mail", in_reply_to=first_message)
    targeted = await email_with(smtp, "About the first mail")
    assert str(targeted["In-Reply-To"]) == first_id


async def test_replies_elsewhere_are_not_emailed_and_a_repeated_job_sends_nothing_twice(
    desk: Desk, email_inbox: str, smtp, db_engine, settings
):
    api_conv = await desk.new_conversation()
    await reply(desk, api_conv["id"], "Reply in the API inbox")
    conv = await start(desk, email_inbox, "Reply in the email inbox")
    await email_with(smtp, "Reply in the email inbox")
    await asyncio.sleep(1)
    assert [smtp.text_of(m).strip() for m in to_contact(smtp)] == ["Reply in the email inbox"]
    sessions = create_session_factory(db_engine)
    async with sessions() as session:
        ids = list((await session.scalars(select(Event.id).where(Event.type == "message.created"))).all())
        jobs = await session.scalar(
            select(func.count()).select_from(OutboxJob).where(OutboxJob.actor_name == "email.send")
        )
    async with sessions() as session:
        assert await email_replies.queue_replies(session, ids, settings=settings) == 0
        await events.commit(session)
    async with sessions() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(OutboxJob).where(OutboxJob.actor_name == "email.send")
            )
            == jobs
        )
    # Only the email inbox's reply gets an email-reply job: the API inbox's messages (the contact's
    # and the agent's) are known to need none when they are written.
    async with sessions() as session:
        jobs_kwargs = (
            await session.scalars(select(OutboxJob.kwargs).where(OutboxJob.actor_name == "messages.email_reply"))
        ).all()
        emailed = {event_id for kwargs in jobs_kwargs for event_id in kwargs["event_ids"]}
        created = (
            await session.execute(
                select(Event.id, Event.conversation_id, Event.payload).where(
                    Event.type == "message.created",
                    Event.conversation_id.in_(
                        [decode_id(api_conv["id"], "Conversation"), decode_id(conv["id"], "Conversation")]
                    ),
                )
            )
        ).all()
    by_conversation = {
        pk: sorted((row.payload["message_type"], row.id in emailed) for row in created if row.conversation_id == pk)
        for pk in (decode_id(api_conv["id"], "Conversation"), decode_id(conv["id"], "Conversation"))
    }
    assert by_conversation == {
        decode_id(api_conv["id"], "Conversation"): [("incoming", False), ("outgoing", False)],
        decode_id(conv["id"], "Conversation"): [("outgoing", True)],
    }, by_conversation
