"""Agent bots end to end (Chatwoot's webhook bots): administrators create them with a token and a
signing secret shown once and connect them to inboxes; new conversations there start pending and are
not auto-assigned; the bot hears about them at its outgoing URL (signed deliveries through the
worker to a real HTTP receiver, verified with `standardwebhooks`), answers with its token over
GraphQL, and hands off to people, after which auto-assignment picks the conversation up. A bot's
token reaches only the conversations of its inboxes, in its account; bad input changes nothing."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from standardwebhooks import Webhook as StandardWebhook

from db.models import Bot, Inbox, Webhook
from schema.core.ids import decode_id, encode_id
from tests.support.accounts import add_agent, signup
from tests.support.desk import ERR, build_desk, user_id
from tests.support.gql import SubscriptionSocket
from tests.test_api_channel import api_inbox
from tests.test_query_counts import count_statements
from tests.test_realtime import socket_for
from tests.test_webhooks import hook_settings, receiver, wait_until  # noqa: F401 - fixtures
from tests.test_widget import make_widget

BOT_FIELDS = "id name description outgoingUrl inboxes { id name }"
BOT_CREATE = f"""mutation($input: BotCreateInput!) {{ botCreate(input: $input) {{
  bot {{ {BOT_FIELDS} }} token secret {ERR} }} }}"""
BOT_UPDATE = f"""mutation($id: ID!, $input: BotUpdateInput!) {{ botUpdate(id: $id, input: $input) {{
  bot {{ {BOT_FIELDS} }} secret {ERR} }} }}"""
BOT_DELETE = f"mutation($id: ID!) {{ botDelete(id: $id) {{ bot {{ id name }} {ERR} }} }}"
BOT_SET = f"""mutation($i: ID!, $b: ID!) {{ inboxBotSet(id: $i, botId: $b) {{
  inbox {{ id bot {{ id name }} }} {ERR} }} }}"""
BOT_UNSET = f"mutation($i: ID!) {{ inboxBotUnset(id: $i) {{ inbox {{ id bot {{ id }} }} {ERR} }} }}"
HANDOFF = f"mutation($id: ID!) {{ conversationHandoff(id: $id) {{ conversation {{ id status }} {ERR} }} }}"
STATUS = f"""mutation($id: ID!, $s: ConversationStatus!) {{
  conversationStatusUpdate(id: $id, input: {{status: $s}}) {{ conversation {{ status }} {ERR} }} }}"""
REPLY = f"""mutation($c: ID!, $t: String!) {{
  messageCreate(input: {{conversationId: $c, content: $t, private: false}}) {{
  message {{ id senderType senderBot {{ id name }} senderUser {{ id }} }} {ERR} }} }}"""
CONVERSATION = """query($id: ID!) { conversation(id: $id) { id status assignee { id }
  messages { nodes { content messageType senderType senderBot { name } } } } }"""
CREATE_CONVERSATION = f"""mutation($i: ID!, $c: ID!) {{ conversationCreate(input: {{inboxId: $i, contactId: $c}}) {{
  conversation {{ id status }} {ERR} }} }}"""
MEMBERS = f"mutation($i: ID!, $u: [ID!]!) {{ inboxMembersSet(id: $i, userIds: $u) {{ {ERR} }} }}"
WIDGET_EVENTS = (
    "subscription { widgetEvents { type conversation { id status } message { content senderName fromContact } } }"
)


def bearer(token: str, account_id: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if account_id is not None:
        headers["X-Parley-Account"] = account_id
    return headers


def top_code(body: dict) -> str | None:
    errors = body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


async def make_bot(gql, admin, **input) -> dict:
    body = await gql.data(BOT_CREATE, {"input": {"name": "Triage", **input}}, headers=admin.headers())
    created = body["botCreate"]
    assert created["errors"] == [], created
    return created


async def connect(gql, admin, inbox_id: str, bot_id: str) -> None:
    body = await gql.data(BOT_SET, {"i": inbox_id, "b": bot_id}, headers=admin.headers())
    assert body["inboxBotSet"]["errors"] == [], body


async def test_a_widget_conversation_goes_to_its_bot_first_then_to_people(gql, smtp, receiver, server, db_engine):
    admin = await signup(gql, account="Bot shop")
    agent = await add_agent(gql, admin, smtp)
    widget = await make_widget(gql, admin)
    agent_id = await user_id(gql, agent)
    assert (await gql.data(MEMBERS, {"i": widget.inbox_id, "u": [agent_id]}, headers=admin.headers()))[
        "inboxMembersSet"
    ]["errors"] == []

    created = await make_bot(gql, admin, description="First line", outgoingUrl=receiver.url)
    bot, token, secret = created["bot"], created["token"], created["secret"]
    assert token.startswith("plyb_") and secret.startswith("whsec_")
    assert bot == {
        "id": bot["id"],
        "name": "Triage",
        "description": "First line",
        "outgoingUrl": receiver.url,
        "inboxes": [],
    }
    body = await gql.data(BOT_SET, {"i": widget.inbox_id, "b": bot["id"]}, headers=admin.headers())
    assert body["inboxBotSet"] == {
        "inbox": {"id": widget.inbox_id, "bot": {"id": bot["id"], "name": "Triage"}},
        "errors": [],
    }
    listed = (await gql.data("{ bots { id inboxes { id name } } }", headers=admin.headers()))["bots"]
    assert listed == [{"id": bot["id"], "inboxes": [{"id": widget.inbox_id, "name": "Website"}]}]

    # The only agent of the inbox is online, so auto-assignment would take any open conversation.
    async with socket_for(server.ws_url, agent):
        visitor = await widget.visitor()
        sock = SubscriptionSocket(server.ws_url, payload={"token": visitor.token})
        await sock.connect()
        await sock.subscribe(WIDGET_EVENTS)
        await asyncio.sleep(0.3)
        sent = await visitor.send("Where is my parcel?")
        assert sent["errors"] == [] and sent["conversation"]["status"] == "PENDING", sent
        conversation_id = sent["conversation"]["id"]

        # The bot hears of the new conversation and the visitor's message, signed with its secret.
        await wait_until(lambda: receiver.events("conversation_created") and receiver.events("message_created"))
        verifier = StandardWebhook(secret)
        for request in receiver.requests:
            verifier.verify(request.body, request.headers)  # raises when the signature is wrong
        heard = receiver.events("message_created")[0].json()
        assert heard["message"]["content"] == "Where is my parcel?" and heard["message"]["messageType"] == "INCOMING"
        assert heard["conversation"]["id"] == conversation_id and heard["conversation"]["status"] == "PENDING"
        assert receiver.events("conversation_created")[0].json()["conversation"]["id"] == conversation_id

        # Pending: nobody is assigned while the bot answers.
        await asyncio.sleep(1.0)
        seen = (await gql.data(CONVERSATION, {"id": conversation_id}, headers=admin.headers()))["conversation"]
        assert seen["status"] == "PENDING" and seen["assignee"] is None

        # The bot answers with its token; the message is the bot's, and the visitor sees it live.
        read = await gql.data(CONVERSATION, {"id": conversation_id}, headers=bearer(token))
        assert read["conversation"]["messages"]["nodes"][0]["content"] == "Where is my parcel?"
        reply = (await gql.data(REPLY, {"c": conversation_id, "t": "Let me look that up"}, headers=bearer(token)))[
            "messageCreate"
        ]
        assert reply["errors"] == [], reply
        assert reply["message"]["senderType"] == "BOT" and reply["message"]["senderUser"] is None
        assert reply["message"]["senderBot"] == {"id": bot["id"], "name": "Triage"}
        while True:
            event = (await sock.next_data(10))["widgetEvents"]
            if event["type"] == "message.created" and event["message"]["content"] == "Let me look that up":
                break
        assert event["message"]["senderName"] == "Triage" and event["message"]["fromContact"] is False
        assert [m["content"] for m in await visitor.messages(conversation_id)] == [
            "Where is my parcel?",
            "Let me look that up",
        ]

        # It hands off: the conversation opens, the bot is told, and the online agent gets it.
        handed = (await gql.data(HANDOFF, {"id": conversation_id}, headers=bearer(token)))["conversationHandoff"]
        assert handed == {"conversation": {"id": conversation_id, "status": "OPEN"}, "errors": []}
        await wait_until(lambda: receiver.events("conversation_opened"))
        opened = receiver.events("conversation_opened")[0]
        assert verifier.verify(opened.body, opened.headers)["conversation"]["status"] == "OPEN"

        async def assignee():
            row = (await gql.data(CONVERSATION, {"id": conversation_id}, headers=admin.headers()))["conversation"]
            return row["assignee"] and row["assignee"]["id"]

        assert await wait_until(assignee) == agent_id
        while True:
            event = (await sock.next_data(10))["widgetEvents"]
            if event["type"] == "conversation.status_changed":
                break
        assert event["conversation"]["status"] == "OPEN"
        await sock.close()

    final = (await gql.data(CONVERSATION, {"id": conversation_id}, headers=admin.headers()))["conversation"]
    lines = [(m["content"], m["messageType"], m["senderType"]) for m in final["messages"]["nodes"]]
    assert ("Let me look that up", "OUTGOING", "BOT") in lines
    assert ("Conversation was handed off to the team by Triage", "ACTIVITY", "SYSTEM") in lines
    # Only the visitor's message was sent to the bot, never its own reply.
    assert len(receiver.events("message_created")) == 1
    # The signing secret is stored encrypted, never in clear.
    async with db_engine.connect() as conn:
        row = (await conn.execute(select(Webhook).where(Webhook.bot_id == decode_id(bot["id"], "Bot")))).one()
    assert secret not in row.secret_encrypted and row.secret_encrypted.startswith("v1:") and row.secret_key_id
    # The bot's webhook is its own: not an account webhook administrators list or change.
    hooks = await gql.data("{ webhooks(first: 50) { edges { node { id } } } }", headers=admin.headers())
    assert hooks["webhooks"]["edges"] == []


async def test_a_bot_token_reaches_only_the_conversations_of_its_inboxes(gql, smtp, receiver, server):
    desk = await build_desk(gql, smtp)  # an API inbox without a bot
    created = await make_bot(gql, desk.admin)
    assert created["secret"] is None and created["bot"]["outgoingUrl"] is None
    bot, token = created["bot"], created["token"]
    inbox_id, _, hmac_token, public = await api_inbox(desk, gql)
    await connect(gql, desk.admin, inbox_id, bot["id"])

    # An API-channel conversation of the bot's inbox starts pending.
    contact = await public.ok("POST", "/contacts", {"name": "Kim"})
    source_id = contact["source_id"]
    opened = await public.ok("POST", f"/contacts/{source_id}/conversations", {})
    assert opened["status"] == "pending"
    display_id = opened["id"]
    await public.ok("POST", f"/contacts/{source_id}/conversations/{display_id}/messages", {"content": "Hi"})
    mine = (
        await gql.data(
            "query($d: Int) { conversation(displayId: $d) { id } }", {"d": display_id}, headers=bearer(token)
        )
    )["conversation"]["id"]
    other = (await desk.new_conversation())["id"]  # in the inbox without a bot: open
    assert (await desk.conversation(desk.admin, other))["data"]["conversation"]["status"] == "OPEN"

    # The bot sees its inbox and its conversations only.
    assert (await gql.data("{ inboxes { id } }", headers=bearer(token)))["inboxes"] == [{"id": inbox_id}]
    listed = await gql.data("{ conversations(first: 50) { edges { node { id } } } }", headers=bearer(token))
    assert [e["node"]["id"] for e in listed["conversations"]["edges"]] == [mine]
    for document, variables in (
        ("query($id: ID!) { conversation(id: $id) { id } }", {"id": other}),
        (HANDOFF, {"id": other}),
        (STATUS, {"id": other, "s": "RESOLVED"}),
        (REPLY, {"c": other, "t": "Not mine"}),
    ):
        refused = await gql.execute(document, variables, headers=bearer(token))
        assert top_code(refused) == "NOT_FOUND", refused
    started = await gql.data(CREATE_CONVERSATION, {"i": desk.inbox_id, "c": desk.contact_id}, headers=bearer(token))
    assert [(e["field"], e["code"]) for e in started["conversationCreate"]["errors"]] == [("inboxId", "NOT_FOUND")]
    assert (await desk.conversation(desk.admin, other))["data"]["conversation"]["status"] == "OPEN"

    # Another account: its header is refused, its conversations are not found.
    other_admin = await signup(gql, account="Elsewhere")
    foreign_inbox = await gql.data(
        f'mutation {{ inboxCreate(input: {{name: "Their API", channelType: API}}) {{ inbox {{ id }} {ERR} }} }}',
        headers=other_admin.headers(),
    )
    foreign_contact = await gql.data(
        f'mutation {{ contactCreate(input: {{name: "Theirs"}}) {{ contact {{ id }} {ERR} }} }}',
        headers=other_admin.headers(),
    )
    foreign = await gql.data(
        CREATE_CONVERSATION,
        {"i": foreign_inbox["inboxCreate"]["inbox"]["id"], "c": foreign_contact["contactCreate"]["contact"]["id"]},
        headers=other_admin.headers(),
    )
    foreign_id = foreign["conversationCreate"]["conversation"]["id"]
    header = await gql.execute(
        "{ conversations(first: 5) { edges { node { id } } } }", headers=bearer(token, other_admin.account_id)
    )
    assert top_code(header) == "FORBIDDEN", header
    for document, variables in ((HANDOFF, {"id": foreign_id}), (REPLY, {"c": foreign_id, "t": "Hello"})):
        assert top_code(await gql.execute(document, variables, headers=bearer(token))) == "NOT_FOUND"
    # A bot of the other account cannot be connected to this account's inbox either.
    their_bot = await make_bot(gql, other_admin, name="Theirs")
    body = await gql.data(BOT_SET, {"i": inbox_id, "b": their_bot["bot"]["id"]}, headers=desk.admin.headers())
    assert [(e["field"], e["code"]) for e in body["inboxBotSet"]["errors"]] == [("botId", "NOT_FOUND")]
    assert top_code(await gql.execute(HANDOFF, {"id": mine}, headers=bearer(their_bot["token"]))) == "NOT_FOUND"

    # The bot replies (the API client sees the bot as sender), resolves, and a new message of the
    # contact brings the conversation back to the bot: pending again.
    reply = await gql.data(REPLY, {"c": mine, "t": "Hello from the bot"}, headers=bearer(token))
    assert reply["messageCreate"]["errors"] == []
    page = await public.ok("GET", f"/contacts/{source_id}/conversations/{display_id}/messages")
    assert page[-1]["sender"] == {"type": "bot", "name": "Triage"} and page[-1]["content"] == "Hello from the bot"
    resolved = await gql.data(STATUS, {"id": mine, "s": "RESOLVED"}, headers=bearer(token))
    assert resolved["conversationStatusUpdate"] == {"conversation": {"status": "RESOLVED"}, "errors": []}
    await public.ok("POST", f"/contacts/{source_id}/conversations/{display_id}/messages", {"content": "One more"})
    again = (await gql.data(CONVERSATION, {"id": mine}, headers=bearer(token)))["conversation"]
    assert again["status"] == "PENDING"

    # Agents may hand off too; only a pending conversation can be.
    handed = await gql.data(HANDOFF, {"id": mine}, headers=desk.admin.headers())
    assert handed["conversationHandoff"] == {"conversation": {"id": mine, "status": "OPEN"}, "errors": []}
    twice = await gql.data(HANDOFF, {"id": mine}, headers=bearer(token))
    assert twice["conversationHandoff"]["conversation"] is None
    assert [(e["field"], e["code"]) for e in twice["conversationHandoff"]["errors"]] == [("id", "NOT_PENDING")]

    # Without its bot the inbox opens conversations for people, and the bot no longer reaches them.
    body = await gql.data(BOT_UNSET, {"i": inbox_id}, headers=desk.admin.headers())
    assert body["inboxBotUnset"] == {"inbox": {"id": inbox_id, "bot": None}, "errors": []}
    fresh = await public.ok("POST", f"/contacts/{source_id}/conversations", {})
    assert fresh["status"] == "open"
    assert top_code(await gql.execute(REPLY, {"c": mine, "t": "Still here?"}, headers=bearer(token))) == "NOT_FOUND"


async def test_bad_input_and_agents_change_nothing(gql, smtp, receiver, db_engine):
    desk = await build_desk(gql, smtp)

    async def bots_count() -> int:
        async with db_engine.connect() as conn:
            return await conn.scalar(select(func.count()).select_from(Bot)) or 0

    before = await bots_count()
    body = await gql.data(
        BOT_CREATE,
        {"input": {"name": "  ", "description": "x" * 1001, "outgoingUrl": "ftp://example.test/hook"}},
        headers=desk.admin.headers(),
    )
    payload = body["botCreate"]
    assert payload["bot"] is None and payload["token"] is None and payload["secret"] is None
    assert sorted((e["field"], e["code"]) for e in payload["errors"]) == [
        ("description", "TOO_LONG"),
        ("name", "REQUIRED"),
        ("outgoingUrl", "INVALID_URL"),
    ]
    assert all(e["message"] for e in payload["errors"])
    too_long = await gql.data(BOT_CREATE, {"input": {"name": "n" * 256}}, headers=desk.admin.headers())
    assert [(e["field"], e["code"]) for e in too_long["botCreate"]["errors"]] == [("name", "TOO_LONG")]
    assert await bots_count() == before

    # Agents may not create, change or connect bots.
    assert top_code(await desk.run(desk.agent, BOT_CREATE, {"input": {"name": "Mine"}})) == "FORBIDDEN"
    created = await make_bot(gql, desk.admin)
    bot_id = created["bot"]["id"]
    assert top_code(await desk.run(desk.agent, BOT_SET, {"i": desk.inbox_id, "b": bot_id})) == "FORBIDDEN"
    assert top_code(await desk.run(desk.agent, BOT_UPDATE, {"id": bot_id, "input": {"name": "x"}})) == "FORBIDDEN"
    assert top_code(await desk.run(desk.agent, BOT_DELETE, {"id": bot_id})) == "FORBIDDEN"
    # A bot's token is no administrator either.
    assert (
        top_code(await gql.execute(BOT_SET, {"i": desk.inbox_id, "b": bot_id}, headers=bearer(created["token"])))
        == "FORBIDDEN"
    )

    # Updates: an explicit null name is refused (not skipped); an omitted field stays.
    for value, code in ((None, "REQUIRED"), ("", "REQUIRED"), ("n" * 256, "TOO_LONG")):
        body = await desk.data(desk.admin, BOT_UPDATE, {"id": bot_id, "input": {"name": value}})
        assert body["botUpdate"]["bot"] is None
        assert [(e["field"], e["code"]) for e in body["botUpdate"]["errors"]] == [("name", code)]
    bad_url = await desk.data(desk.admin, BOT_UPDATE, {"id": bot_id, "input": {"outgoingUrl": "not a url"}})
    assert [(e["field"], e["code"]) for e in bad_url["botUpdate"]["errors"]] == [("outgoingUrl", "INVALID_URL")]
    unknown = await desk.run(desk.admin, BOT_UPDATE, {"id": encode_id("Bot", 99999999), "input": {"name": "x"}})
    assert top_code(unknown) == "NOT_FOUND", unknown
    kept = (await desk.data(desk.admin, "{ bots { name description outgoingUrl } }"))["bots"]
    assert kept == [{"name": "Triage", "description": "", "outgoingUrl": None}]

    # A URL given later gets a signing secret once; clearing it removes the bot's webhook.
    renamed = await desk.data(
        desk.admin, BOT_UPDATE, {"id": bot_id, "input": {"name": "Helper", "outgoingUrl": receiver.url}}
    )
    assert renamed["botUpdate"]["errors"] == [] and renamed["botUpdate"]["secret"].startswith("whsec_")
    assert renamed["botUpdate"]["bot"]["name"] == "Helper" and renamed["botUpdate"]["bot"]["description"] == ""
    same = await desk.data(desk.admin, BOT_UPDATE, {"id": bot_id, "input": {"description": "Answers first"}})
    assert same["botUpdate"]["secret"] is None and same["botUpdate"]["bot"]["outgoingUrl"] == receiver.url

    async def bot_webhooks() -> int:
        async with db_engine.connect() as conn:
            return await conn.scalar(select(func.count()).select_from(Webhook).where(Webhook.bot_id.is_not(None))) or 0

    assert await bot_webhooks() == 1
    cleared = await desk.data(desk.admin, BOT_UPDATE, {"id": bot_id, "input": {"outgoingUrl": None}})
    assert cleared["botUpdate"]["bot"]["outgoingUrl"] is None and await bot_webhooks() == 0

    # Connecting: an unknown inbox is refused; a conversation that is not pending cannot be handed off.
    missing = await desk.data(desk.admin, BOT_SET, {"i": encode_id("Inbox", 99999999), "b": bot_id})
    assert [(e["field"], e["code"]) for e in missing["inboxBotSet"]["errors"]] == [("id", "NOT_FOUND")]
    conversation = (await desk.new_conversation())["id"]
    refused = await desk.data(desk.admin, HANDOFF, {"id": conversation})
    assert [(e["field"], e["code"]) for e in refused["conversationHandoff"]["errors"]] == [("id", "NOT_PENDING")]
    assert (await desk.conversation(desk.admin, conversation))["data"]["conversation"]["status"] == "OPEN"

    # Deleting a bot ends its token and leaves its inbox without one.
    await connect(gql, desk.admin, desk.inbox_id, bot_id)
    deleted = await desk.data(desk.admin, BOT_DELETE, {"id": bot_id})
    assert deleted["botDelete"] == {"bot": {"id": bot_id, "name": "Helper"}, "errors": []}
    gone = await gql.execute("{ inboxes { id } }", headers=bearer(created["token"]))
    assert top_code(gone) == "UNAUTHENTICATED", gone
    inbox = (await desk.data(desk.admin, "{ inboxes { id bot { id } } }"))["inboxes"]
    assert inbox == [{"id": desk.inbox_id, "bot": None}]
    started = await desk.data(desk.admin, CREATE_CONVERSATION, {"i": desk.inbox_id, "c": desk.contact_id})
    assert started["conversationCreate"]["conversation"]["status"] == "OPEN"


async def test_bot_and_inbox_lists_make_a_constant_number_of_statements(gql, smtp, server, db_engine):
    admin = await signup(gql, account="Many bots")
    engine = server.app.state.services.engine
    inbox_ids: list[str] = []
    for round_size in (2, 4):
        for _ in range(round_size):
            n = len(inbox_ids)
            inbox = await gql.data(
                f'mutation {{ inboxCreate(input: {{name: "API {n}", channelType: API}}) {{ inbox {{ id }} {ERR} }} }}',
                headers=admin.headers(),
            )
            inbox_ids.append(inbox["inboxCreate"]["inbox"]["id"])
            bot = await make_bot(gql, admin, name=f"Bot {n}")
            await connect(gql, admin, inbox_ids[-1], bot["bot"]["id"])
        counts = []
        for document, field in (
            ("{ bots { id name outgoingUrl inboxes { id name } } }", "bots"),
            ("{ inboxes { id name bot { id name } } }", "inboxes"),
        ):
            with count_statements(engine) as statements:
                body = await gql.data(document, headers=admin.headers())
            assert len(body[field]) == len(inbox_ids)
            assert all((row.get("inboxes") or [row.get("bot")])[0] for row in body[field])
            counts.append(len(statements))
        if round_size == 2:
            small = counts
        else:
            assert counts == small, (small, counts)
    assert max(small) <= 6, small
    async with db_engine.connect() as conn:
        connected = await conn.scalar(select(func.count()).select_from(Inbox).where(Inbox.bot_id.is_not(None)))
    assert connected == 6
