"""The API channel as Chatwoot has it, end to end over HTTP: a partner's client creates a contact
(HMAC-verified when the inbox asks), its conversations and messages through the public client API
under /public/api/v1 (the services every channel uses: agents see them, events fire), and the inbox's
callback URL receives the agents' public replies as signed webhooks (verified with the
`standardwebhooks` package) with retries. Bad input and other inboxes' or accounts' identifiers
are refused, with nothing written."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import httpx
from sqlalchemy import func, select
from standardwebhooks import Webhook as StandardWebhook

from db.models import Contact, ContactInbox, Conversation, Message
from tests.support.desk import ERR, build_desk
from tests.support.gql import SubscriptionSocket
from tests.test_query_counts import count_statements
from tests.test_webhooks import attempts, hook_settings, receiver, wait_until  # noqa: F401 - fixtures

INBOX = """mutation($input: InboxCreateInput!) { inboxCreate(input: $input) {
  inbox { id apiIdentifier hmacToken } errors { field code message } } }"""
MEMBERS = "mutation($i: ID!, $u: [ID!]!) { inboxMembersSet(id: $i, userIds: $u) { errors { code } } }"
REPLY = f"""mutation($c: ID!, $t: String!, $p: Boolean!) {{
  messageCreate(input: {{conversationId: $c, content: $t, private: $p}}) {{ message {{ id }} {ERR} }} }}"""
CONVERSATIONS = """{ conversations(first: 20) { edges { node { id displayId status contact { id name email }
  inbox { id } lastMessage { content messageType } } } } }"""
WEBHOOKS = "{ webhooks(first: 50) { edges { node { id url events inboxCallback enabled inbox { id } } } } }"
ROTATE = "mutation($id: ID!) { webhookSecretRotate(id: $id) { secret webhook { id } errors { code } } }"


def sign(token: str, identifier: str) -> str:
    return hmac.new(token.encode(), identifier.encode(), hashlib.sha256).hexdigest()


class Public:
    def __init__(self, base_url: str, identifier: str) -> None:
        self.prefix = f"/public/api/v1/inboxes/{identifier}"
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30)

    async def call(self, method: str, path: str = "", body=None, **kw) -> httpx.Response:
        if body is not None:
            kw["json"] = body
        return await self.http.request(method, self.prefix + path, **kw)

    async def ok(self, method: str, path: str = "", body=None):
        resp = await self.call(method, path, body)
        assert resp.status_code == 200, resp.text
        return resp.json()


async def api_inbox(desk, gql, **config) -> tuple[str, str, str, Public]:
    body = await desk.data(
        desk.admin,
        INBOX,
        {"input": {"name": "Partner app", "channelType": "API", **config}},
    )
    payload = body["inboxCreate"]
    assert payload["errors"] == [], payload
    inbox = payload["inbox"]
    await desk.data(desk.admin, MEMBERS, {"i": inbox["id"], "u": [desk.user_ids["agent"]]})
    return inbox["id"], inbox["apiIdentifier"], inbox["hmacToken"], Public(gql.base_url, inbox["apiIdentifier"])


async def counts(db_engine) -> tuple[int, int, int, int]:
    async with db_engine.connect() as conn:
        return tuple(
            [
                await conn.scalar(select(func.count()).select_from(model))
                for model in (Contact, ContactInbox, Conversation, Message)
            ]
        )


async def callback_of(desk, inbox_id: str) -> dict:
    hooks = [e["node"] for e in (await desk.data(desk.admin, WEBHOOKS))["webhooks"]["edges"]]
    [hook] = [h for h in hooks if h["inboxCallback"] and h["inbox"]["id"] == inbox_id]
    return hook


async def test_a_partner_client_talks_to_agents_and_hears_their_replies_on_its_callback(gql, smtp, receiver, server):
    desk = await build_desk(gql, smtp)
    inbox_id, identifier, hmac_token, public = await api_inbox(desk, gql, channelConfig={"callbackUrl": receiver.url})
    hook = await callback_of(desk, inbox_id)
    assert hook["events"] == ["MESSAGE_CREATED"] and hook["url"] == receiver.url and hook["enabled"]
    rotated = (await desk.data(desk.admin, ROTATE, {"id": hook["id"]}))["webhookSecretRotate"]
    secret = rotated["secret"]

    shown = await public.ok("GET")
    assert shown["identifier"] == identifier and shown["name"] == "Partner app" and shown["hmac_mandatory"] is False

    contact = await public.ok(
        "POST",
        "/contacts",
        {"identifier": "user-42", "identifier_hash": sign(hmac_token, "user-42"), "name": "Kim", "email": "KIM@x.test"},
    )
    source_id = contact["source_id"]
    assert contact["name"] == "Kim" and contact["email"] == "kim@x.test" and contact["hmac_verified"] is True
    assert contact["identifier"] == "user-42" and contact["pubsub_token"]
    assert (await public.ok("GET", f"/contacts/{source_id}"))["email"] == "kim@x.test"
    updated = await public.ok("PATCH", f"/contacts/{source_id}", {"name": "Kim Lee", "phone_number": "+49 30 123456"})
    assert updated["name"] == "Kim Lee" and updated["phone_number"] == "+4930123456"

    conversation = await public.ok("POST", f"/contacts/{source_id}/conversations", {})
    assert conversation["status"] == "open" and conversation["inbox_id"] == identifier
    display_id = conversation["id"]
    message = await public.ok(
        "POST",
        f"/contacts/{source_id}/conversations/{display_id}/messages",
        {"content": "My invoice is wrong", "echo_id": "e-1"},
    )
    assert message["message_type"] == 0 and message["echo_id"] == "e-1" and message["sender"]["type"] == "contact"
    listed = await public.ok("GET", f"/contacts/{source_id}/conversations")
    assert [c["id"] for c in listed] == [display_id]

    # Agents see it as any conversation: made through the same services.
    nodes = [e["node"] for e in (await desk.data(desk.agent, CONVERSATIONS))["conversations"]["edges"]]
    [seen] = [n for n in nodes if n["displayId"] == display_id]
    assert seen["inbox"]["id"] == inbox_id and seen["contact"]["name"] == "Kim Lee"
    assert seen["lastMessage"] == {"content": "My invoice is wrong", "messageType": "INCOMING"}

    # The pubsub token is the contact's widget session: its live stream hears the reply too.
    sock = SubscriptionSocket(server.ws_url, payload={"token": contact["pubsub_token"]})
    await sock.connect()
    await sock.subscribe("subscription { widgetEvents { type message { content } } }")
    await asyncio.sleep(0.3)
    await desk.data(desk.agent, REPLY, {"c": seen["id"], "t": "Internal: check billing", "p": True})
    body = await desk.data(desk.agent, REPLY, {"c": seen["id"], "t": "Fixed, sorry!", "p": False})
    assert body["messageCreate"]["errors"] == []

    event = (await sock.next_data(10))["widgetEvents"]
    while event["type"] != "message.created":
        event = (await sock.next_data(10))["widgetEvents"]
    assert event["message"]["content"] == "Fixed, sorry!"  # never the private note
    await sock.close()

    # The callback hears the agent's public reply only: not the contact's message, not the note.
    await wait_until(lambda: receiver.events("message_created"))
    await asyncio.sleep(1.0)  # time for anything else the callback would (wrongly) be sent
    [request] = receiver.requests
    verified = StandardWebhook(secret).verify(request.body, request.headers)
    assert verified["message"]["content"] == "Fixed, sorry!" and verified["message"]["messageType"] == "OUTGOING"
    assert verified["conversation"]["displayId"] == display_id
    assert verified["conversation"]["contactInbox"] == {"sourceId": source_id}

    page = await public.ok("GET", f"/contacts/{source_id}/conversations/{display_id}/messages")
    assert [(m["content"], m["message_type"]) for m in page] == [("My invoice is wrong", 0), ("Fixed, sorry!", 1)]
    assert page[1]["sender"] == {"type": "user", "name": page[1]["sender"]["name"]} and page[1]["sender"]["name"]
    after = await public.ok("GET", f"/contacts/{source_id}/conversations/{display_id}/messages?after={page[0]['id']}")
    assert [m["content"] for m in after] == ["Fixed, sorry!"]

    # And the widget's queries read the same conversation with it.
    widget = await gql.data(
        "{ widgetConversations { id } }", headers={"Authorization": f"Bearer {contact['pubsub_token']}"}
    )
    assert len(widget["widgetConversations"]) == 1


async def test_the_callback_is_retried_until_the_receiver_takes_it(gql, smtp, receiver):
    desk = await build_desk(gql, smtp)
    inbox_id, _, _, public = await api_inbox(desk, gql, channelConfig={"callbackUrl": receiver.url})
    hook = await callback_of(desk, inbox_id)
    secret = (await desk.data(desk.admin, ROTATE, {"id": hook["id"]}))["webhookSecretRotate"]["secret"]
    source_id = (await public.ok("POST", "/contacts", {"name": "Ola"}))["source_id"]
    display_id = (await public.ok("POST", f"/contacts/{source_id}/conversations"))["id"]
    await public.ok("POST", f"/contacts/{source_id}/conversations/{display_id}/messages", {"content": "Hi"})
    nodes = [e["node"] for e in (await desk.data(desk.agent, CONVERSATIONS))["conversations"]["edges"]]
    [seen] = [n for n in nodes if n["displayId"] == display_id]
    receiver.script(500, 503)
    await desk.data(desk.agent, REPLY, {"c": seen["id"], "t": "Hello Ola", "p": False})

    async def delivered():
        tries = await attempts(desk, hook["id"])
        return tries if tries and tries[-1]["succeeded"] else None

    tries = await wait_until(delivered)
    assert [t["statusCode"] for t in tries] == [500, 503, 200]
    assert len({r.webhook_id for r in receiver.requests}) == 1  # one delivery, three tries
    for r in receiver.requests:
        assert StandardWebhook(secret).verify(r.body, r.headers)["message"]["content"] == "Hello Ola"


async def test_the_callback_follows_the_inbox_and_is_not_an_account_webhook(gql, smtp, receiver, server):
    desk = await build_desk(gql, smtp)
    inbox_id, _, _, _ = await api_inbox(desk, gql, channelConfig={"callbackUrl": receiver.url})
    hook = await callback_of(desk, inbox_id)
    refused = await desk.data(
        desk.admin,
        "mutation($id: ID!) { webhookDelete(id: $id) { errors { code } } }",
        {"id": hook["id"]},
    )
    assert refused["webhookDelete"]["errors"] == [{"code": "INBOX_CALLBACK"}]
    update = """mutation($id: ID!, $u: String!) { inboxUpdate(id: $id, input: {channelConfig: {callbackUrl: $u}}) {
      inbox { id channelConfig } errors { field code } } }"""
    moved = await desk.data(desk.admin, update, {"id": inbox_id, "u": receiver.url + "/v2"})
    assert moved["inboxUpdate"]["errors"] == []
    assert (await callback_of(desk, inbox_id))["url"] == receiver.url + "/v2"
    # A private address is refused when the installation does not allow them; nothing changes.
    server.settings.webhooks_allow_private_targets = False
    try:
        bad = await desk.data(desk.admin, update, {"id": inbox_id, "u": "http://127.0.0.1:9/x"})
    finally:
        server.settings.webhooks_allow_private_targets = True
    assert bad["inboxUpdate"]["errors"][0]["field"] == "callbackUrl"
    assert (await callback_of(desk, inbox_id))["url"] == receiver.url + "/v2"
    cleared = await desk.data(desk.admin, update, {"id": inbox_id, "u": ""})
    assert cleared["inboxUpdate"]["errors"] == []
    hooks = [e["node"] for e in (await desk.data(desk.admin, WEBHOOKS))["webhooks"]["edges"]]
    assert not [h for h in hooks if h["inboxCallback"]]


async def test_identity_verification_and_bad_input_change_nothing(gql, smtp, db_engine):
    desk = await build_desk(gql, smtp)
    _, _, hmac_token, public = await api_inbox(desk, gql, settings={"hmacMandatory": True})
    before = await counts(db_engine)

    async def refused(method, path, body, status, field=None, code=None, **kw):
        resp = await public.call(method, path, body, **kw)
        assert resp.status_code == status, resp.text
        error = resp.json()["error"]
        if field is not None:
            assert {"field": field, "code": code} in [{"field": f["field"], "code": f["code"]} for f in error["fields"]]
        return error

    await refused("POST", "/contacts", {"name": "Eve"}, 422, "identifier_hash", "REQUIRED")
    await refused(
        "POST", "/contacts", {"identifier": "u-1", "identifier_hash": "00" * 32}, 422, "identifier_hash", "INVALID_HASH"
    )
    await refused("POST", "/contacts", {"identifier_hash": sign(hmac_token, "u-1")}, 422, "identifier", "REQUIRED")
    good = {"identifier": "u-1", "identifier_hash": sign(hmac_token, "u-1")}
    await refused("POST", "/contacts", {**good, "email": "not an email"}, 422, "email", "INVALID_EMAIL")
    await refused("POST", "/contacts", {**good, "phone_number": "12"}, 422, "phone_number", "INVALID_PHONE")
    await refused("POST", "/contacts", {**good, "name": 5}, 422, "name", "INVALID")
    await refused("POST", "/contacts", None, 400, content=b"{not json", headers={"content-type": "application/json"})
    assert (await public.call("POST", "/contacts", content=b"[1]")).status_code == 400
    assert await counts(db_engine) == before

    contact = await public.ok("POST", "/contacts", good)
    source_id = contact["source_id"]
    # The same verified person on another device: the same contact, a new contact identifier.
    again = await public.ok("POST", "/contacts", good)
    assert again["id"] == contact["id"] and again["source_id"] != source_id
    display_id = (await public.ok("POST", f"/contacts/{source_id}/conversations"))["id"]
    before = await counts(db_engine)
    path = f"/contacts/{source_id}/conversations/{display_id}/messages"
    await refused("POST", path, {"content": "   "}, 422, "content", "REQUIRED")
    await refused("POST", path, {"content": "x" * 200_000}, 422, "content", "TOO_LONG")
    await refused("POST", path, {"content": "hi", "echo_id": "e" * 300}, 422, "echo_id", "TOO_LONG")
    await refused("PATCH", f"/contacts/{source_id}", {"email": "bad"}, 422, "email", "INVALID_EMAIL")
    await refused("PATCH", f"/contacts/{source_id}", {"identifier": "u-2"}, 422, "identifier", "NOT_CHANGEABLE")
    await refused(
        "POST", f"/contacts/{source_id}/conversations", {"custom_attributes": [1]}, 422, "custom_attributes", "INVALID"
    )
    await refused("GET", f"/contacts/{source_id}/conversations/abc/messages", None, 404)
    await refused("GET", path + "?before=x", None, 422, "before", "INVALID")
    assert await counts(db_engine) == before
    # The verified device sees the conversation the other device opened.
    assert [c["id"] for c in await public.ok("GET", f"/contacts/{again['source_id']}/conversations")] == [display_id]


async def test_other_inboxes_accounts_and_contacts_are_not_reachable(gql, smtp, db_engine):
    desk = await build_desk(gql, smtp)
    _, identifier, _, public = await api_inbox(desk, gql)
    other_desk = await build_desk(gql, smtp)
    _, other_identifier, _, other_public = await api_inbox(other_desk, gql)
    _, second_identifier, _, second_public = await api_inbox(desk, gql)

    mine = (await public.ok("POST", "/contacts", {"name": "Mine"}))["source_id"]
    theirs = (await public.ok("POST", "/contacts", {"name": "Theirs"}))["source_id"]
    my_conversation = (await public.ok("POST", f"/contacts/{mine}/conversations"))["id"]
    await public.ok("POST", f"/contacts/{mine}/conversations/{my_conversation}/messages", {"content": "private"})

    before = await counts(db_engine)
    # Another account's API inbox, or another inbox of the same account, does not know the contact.
    for client in (other_public, second_public):
        for method, path, body in (
            ("GET", f"/contacts/{mine}", None),
            ("PATCH", f"/contacts/{mine}", {"name": "Mallory"}),
            ("GET", f"/contacts/{mine}/conversations", None),
            ("POST", f"/contacts/{mine}/conversations", {}),
            ("POST", f"/contacts/{mine}/conversations/{my_conversation}/messages", {"content": "hi"}),
        ):
            resp = await client.call(method, path, body)
            assert resp.status_code == 404 and resp.json()["error"]["code"] == "NOT_FOUND", (method, path, resp.text)
    # Another contact of the same inbox does not see my conversation.
    for method, body in (("GET", None), ("POST", {"content": "hi"})):
        resp = await public.call(method, f"/contacts/{theirs}/conversations/{my_conversation}/messages", body)
        assert resp.status_code == 404
    assert (await public.call("GET", f"/contacts/{theirs}/conversations/{my_conversation}")).status_code == 404
    # An agent-made conversation's guessable `contact-<id>` source id names no one here.
    conversation = await desk.new_conversation()
    async with db_engine.connect() as conn:
        guessable = await conn.scalar(
            select(ContactInbox.source_id)
            .join(Conversation, Conversation.contact_inbox_id == ContactInbox.id)
            .where(Conversation.display_id == conversation["displayId"], ContactInbox.source_id.like("contact-%"))
        )
    assert guessable is not None
    assert (await public.call("GET", f"/contacts/{guessable}")).status_code == 404
    # A web widget's token is not an API inbox identifier; unknown identifiers are not found.
    assert (await Public(gql.base_url, "nope").call("POST", "/contacts", {})).status_code == 404
    assert await counts(db_engine) == (before[0], before[1] + 1, before[2] + 1, before[3] + 1)  # the agent's one
    assert identifier != other_identifier != second_identifier
    resp = await public.call("GET", f"/contacts/{mine}/conversations/{my_conversation}/messages")
    assert [m["content"] for m in resp.json()] == ["private"]


async def test_lists_cost_the_same_statements_for_longer_pages(gql, smtp, server):
    desk = await build_desk(gql, smtp)
    _, _, _, public = await api_inbox(desk, gql)
    source_id = (await public.ok("POST", "/contacts", {"name": "Lou"}))["source_id"]
    engine = server.app.state.services.engine

    async def add_conversation() -> int:
        display_id = (await public.ok("POST", f"/contacts/{source_id}/conversations"))["id"]
        await public.ok("POST", f"/contacts/{source_id}/conversations/{display_id}/messages", {"content": "hi"})
        nodes = [e["node"] for e in (await desk.data(desk.agent, CONVERSATIONS))["conversations"]["edges"]]
        [seen] = [n for n in nodes if n["displayId"] == display_id]
        await desk.data(desk.agent, REPLY, {"c": seen["id"], "t": "hello", "p": False})
        return display_id

    async def measure(path: str) -> tuple[int, int]:
        with count_statements(engine) as statements:
            rows = await public.ok("GET", path)
        return len(rows), len(statements)

    first = await add_conversation()
    small = [
        await measure(f"/contacts/{source_id}/conversations"),
        await measure(f"/contacts/{source_id}/conversations/{first}/messages"),
    ]
    for _ in range(4):
        await add_conversation()
    for _ in range(4):
        await public.ok("POST", f"/contacts/{source_id}/conversations/{first}/messages", {"content": "more"})
    large = [
        await measure(f"/contacts/{source_id}/conversations"),
        await measure(f"/contacts/{source_id}/conversations/{first}/messages"),
    ]
    assert [n for n, _ in small] == [1, 2] and [n for n, _ in large] == [5, 6]
    assert [c for _, c in small] == [c for _, c in large], (small, large)
