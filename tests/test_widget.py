"""The website widget's public API over HTTP and WebSocket: contact sessions, identity verification,
what a contact session may read (nothing of another visitor, inbox or account; never a private
note), the resumable widgetEvents stream, CSAT, origins and abuse limits."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import httpx
import pytest
from sqlalchemy import text
from websockets.exceptions import ConnectionClosed

from tests.support.accounts import Member, signup
from tests.support.gql import GraphQLHTTP, SubscriptionSocket

ERR = "errors { field code message }"
MSG = "id conversationId content messageType fromContact senderName createdAt deleted"
START = f"""mutation($i: WidgetSessionStartInput!) {{ widgetSessionStart(input: $i) {{ token contact {{ name email verified }} {ERR} }} }}"""
SEND = f"""mutation($i: WidgetMessageCreateInput!) {{ widgetMessageCreate(input: $i) {{
  message {{ {MSG} }} conversation {{ id status }} {ERR} }} }}"""
MESSAGES = f"""query($c: ID!, $a: String) {{ widgetMessages(conversationId: $c, after: $a) {{
  edges {{ cursor node {{ {MSG} }} }} pageInfo {{ hasNextPage hasPreviousPage }} }} }}"""
EVENTS = f"""subscription($a: String) {{ widgetEvents(after: $a) {{ cursor type conversation {{ id status csatRating }}
  message {{ {MSG} }} typing {{ conversationId on agentName }} }} }}"""
CSAT = f"""mutation($c: ID!, $r: Int!, $f: String!) {{ widgetCsatSubmit(input: {{conversationId: $c, rating: $r, feedback: $f}}) {{
  conversation {{ id csatRating }} {ERR} }} }}"""


class Widget:
    """An inbox of type web widget with its administrator."""

    def __init__(self, gql: GraphQLHTTP, admin: Member, inbox_id: str, website_token: str, hmac_token: str) -> None:
        self.gql, self.admin, self.inbox_id, self.website_token, self.hmac_token = (
            gql,
            admin,
            inbox_id,
            website_token,
            hmac_token,
        )

    async def start(self, **extra) -> dict:
        body = await self.gql.data(START, {"i": {"websiteToken": self.website_token, **extra}})
        return body["widgetSessionStart"]

    async def visitor(self, **extra) -> Visitor:
        started = await self.start(**extra)
        assert started["errors"] == [] and started["token"], started
        return Visitor(self.gql, started["token"])

    async def agent(self, document: str, variables: dict | None = None) -> dict:
        return await self.gql.data(document, variables, headers=self.admin.headers())

    async def reply(self, conversation_id: str, content: str, private: bool = False) -> dict:
        body = await self.agent(
            f"""mutation($c: ID!, $t: String!, $p: Boolean!) {{
          messageCreate(input: {{conversationId: $c, content: $t, private: $p}}) {{ message {{ id }} {ERR} }} }}""",
            {"c": conversation_id, "t": content, "p": private},
        )
        assert body["messageCreate"]["errors"] == [], body
        return body["messageCreate"]["message"]

    async def set_status(self, conversation_id: str, status: str) -> None:
        body = await self.agent(
            f"""mutation($id: ID!, $s: ConversationStatus!) {{
          conversationStatusUpdate(id: $id, input: {{status: $s}}) {{ conversation {{ status }} {ERR} }} }}""",
            {"id": conversation_id, "s": status},
        )
        assert body["conversationStatusUpdate"]["errors"] == [], body


class Visitor:
    def __init__(self, gql: GraphQLHTTP, token: str) -> None:
        self.gql, self.token = gql, token

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def run(self, document: str, variables: dict | None = None, **headers) -> dict:
        return await self.gql.execute(document, variables, headers={**self.headers, **headers})

    async def data(self, document: str, variables: dict | None = None) -> dict:
        return await self.gql.data(document, variables, headers=self.headers)

    async def send(self, content: str, conversation_id: str | None = None) -> dict:
        body = await self.data(SEND, {"i": {"content": content, "conversationId": conversation_id}})
        return body["widgetMessageCreate"]

    async def messages(self, conversation_id: str, after: str | None = None) -> list[dict]:
        body = await self.data(MESSAGES, {"c": conversation_id, "a": after})
        return [e["node"] for e in body["widgetMessages"]["edges"]]


async def make_widget(
    gql: GraphQLHTTP,
    admin: Member | None = None,
    *,
    allowed: list[str] | None = None,
    hmac_mandatory: bool = False,
    name: str = "Website",
) -> Widget:
    admin = admin or await signup(gql, account="Shop")
    body = await gql.data(
        f"""mutation($n: String!, $d: [String!], $m: Boolean) {{ inboxCreate(input: {{name: $n, channelType: WEB_WIDGET,
      channelConfig: {{widgetColor: "#aa3355", welcomeTitle: "Hi there", welcomeTagline: "Ask us anything", replyTime: "in_a_few_hours",
      allowedDomains: $d}}, settings: {{hmacMandatory: $m, outOfOfficeMessage: "We are away"}}}}) {{
      inbox {{ id websiteToken hmacToken }} {ERR} }} }}""",
        {"n": name, "d": allowed, "m": hmac_mandatory},
        headers=admin.headers(),
    )
    assert body["inboxCreate"]["errors"] == [], body
    inbox = body["inboxCreate"]["inbox"]
    return Widget(gql, admin, inbox["id"], inbox["websiteToken"], inbox["hmacToken"])


def sign(secret: str, identifier: str) -> str:
    return hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


def top_code(body: dict) -> str | None:
    errors = body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


# --- sessions and identity ----------------------------------------------------------------------------


async def test_config_session_start_and_resume(gql):
    w = await make_widget(gql)
    config = (
        await gql.data(
            """query($w: String!) { widgetConfig(websiteToken: $w) { name widgetColor welcomeTitle
      welcomeTagline replyTime openNow agentsOnline outOfOfficeMessage hmacMandatory } }""",
            {"w": w.website_token},
        )
    )["widgetConfig"]
    assert config == {
        "name": "Website",
        "widgetColor": "#aa3355",
        "welcomeTitle": "Hi there",
        "welcomeTagline": "Ask us anything",
        "replyTime": "in_a_few_hours",
        "openNow": True,
        "agentsOnline": False,
        "outOfOfficeMessage": "We are away",
        "hmacMandatory": False,
    }
    unknown = await gql.execute('{ widgetConfig(websiteToken: "nope") { name } }')
    assert top_code(unknown) == "NOT_FOUND"

    first = await w.start()
    assert first["errors"] == [] and first["token"].startswith("plyw_")
    v = Visitor(gql, first["token"])
    sent = await v.send("Hello, is anyone there?")
    assert sent["errors"] == [] and sent["conversation"]["status"] == "OPEN"
    conversation_id = sent["conversation"]["id"]
    # The same session again with the earlier token: the same contact and conversations.
    again = await w.start(sessionToken=first["token"], name="Vera Visitor")
    v2 = Visitor(gql, again["token"])
    convs = (await v2.data("{ widgetConversations { id status } }"))["widgetConversations"]
    assert [c["id"] for c in convs] == [conversation_id]
    assert (await v2.data("{ widgetContact { name email verified } }"))["widgetContact"] == {
        "name": "Vera Visitor",
        "email": None,
        "verified": False,
    }
    # Without a token: a new anonymous visitor who sees nothing of the first.
    other = await w.visitor()
    assert (await other.data("{ widgetConversations { id } }"))["widgetConversations"] == []
    # The pre-chat form.
    updated = (
        await other.data(f"""mutation {{ widgetContactUpdate(input: {{name: "Otto", email: "OTTO@example.test"}}) {{
      contact {{ name email }} {ERR} }} }}""")
    )["widgetContactUpdate"]
    assert updated == {"contact": {"name": "Otto", "email": "otto@example.test"}, "errors": []}
    # Someone else's email is neither taken over nor revealed: it stays an unconfirmed email of this visitor.
    taken = await v2.data(
        f"""mutation {{ widgetContactUpdate(input: {{email: "otto@example.test"}}) {{ contact {{ email }} {ERR} }} }}"""
    )
    assert taken["widgetContactUpdate"] == {"contact": {"email": "otto@example.test"}, "errors": []}
    assert (await v2.data("{ widgetConversations { id } }"))["widgetConversations"] == [{"id": conversation_id}]
    # A garbage token is refused outright.
    body = await gql.execute("{ widgetConversations { id } }", headers={"Authorization": "Bearer plyw_forged"})
    assert top_code(body) == "UNAUTHENTICATED"


async def test_verified_identity_and_forged_hash(gql):
    w = await make_widget(gql)
    known = await w.agent(
        f"""mutation {{ contactCreate(input: {{name: "Known Person", identifier: "user-42"}}) {{ contact {{ id }} {ERR} }} }}"""
    )
    known_id = known["contactCreate"]["contact"]["id"]

    forged = await w.start(identifier="user-42", identifierHash=sign("not-the-secret", "user-42"))
    assert forged["token"] is None and [e["code"] for e in forged["errors"]] == ["INVALID_HASH"]
    # Without a hash a known identifier is not linked (that would be taking over someone's history).
    unverified = await w.start(identifier="user-42")
    assert unverified["token"] is None and [e["code"] for e in unverified["errors"]] == ["REQUIRED"]

    verified = await w.start(identifier="user-42", identifierHash=sign(w.hmac_token, "user-42"))
    assert verified["errors"] == [] and verified["contact"] == {"name": "Known Person", "email": None, "verified": True}
    v = Visitor(gql, verified["token"])
    sent = await v.send("I am the known person")
    conversation = await w.agent(
        "query($id: ID!) { conversation(id: $id) { contact { id } } }", {"id": sent["conversation"]["id"]}
    )
    assert conversation["conversation"]["contact"]["id"] == known_id
    # A second device of the verified person continues the same conversations.
    device = await w.visitor(identifier="user-42", identifierHash=sign(w.hmac_token, "user-42").upper())
    assert [c["id"] for c in (await device.data("{ widgetConversations { id } }"))["widgetConversations"]] == [
        sent["conversation"]["id"]
    ]

    # Mandatory verification refuses unverified identification.
    strict = await make_widget(gql, w.admin, hmac_mandatory=True, name="Strict")
    refused = await strict.start(identifier="someone")
    assert refused["token"] is None and [e["code"] for e in refused["errors"]] == ["REQUIRED"]
    ok = await strict.start(identifier="someone", identifierHash=sign(strict.hmac_token, "someone"))
    assert ok["errors"] == [] and ok["contact"]["verified"] is True


async def test_a_session_token_is_refused_on_another_inbox(gql):
    w = await make_widget(gql)
    other_inbox = await make_widget(gql, w.admin, name="Second site")
    other_account = await make_widget(gql)
    v = await w.visitor()
    await v.send("hello")
    for target in (other_inbox, other_account):
        replay = await target.start(sessionToken=v.token)
        assert replay["token"] is None and [e["code"] for e in replay["errors"]] == ["WRONG_INBOX"]


# --- tenancy --------------------------------------------------------------------------------------------


async def test_a_contact_session_reads_nothing_of_another_contact_inbox_or_account(gql):
    w = await make_widget(gql)
    alice, bob = await w.visitor(), await w.visitor()
    sent = await alice.send("Alice's question")
    conv = sent["conversation"]["id"]
    await w.reply(conv, "Agent's public answer")
    await w.reply(conv, "SECRET internal note", private=True)

    seen = await alice.messages(conv)
    assert [(m["content"], m["fromContact"], m["messageType"]) for m in seen] == [
        ("Alice's question", True, "INCOMING"),
        ("Agent's public answer", False, "OUTGOING"),
    ]
    assert seen[1]["senderName"] and "@" not in seen[1]["senderName"]
    raw = json.dumps(seen)
    assert "SECRET" not in raw and w.admin.email not in raw

    # Bob, a visitor of the same inbox: none of Alice's conversation.
    assert (await bob.data("{ widgetConversations { id } }"))["widgetConversations"] == []
    assert await bob.messages(conv) == []
    into = await bob.send("let me in", conv)
    assert [e["code"] for e in into["errors"]] == ["NOT_FOUND"]
    typing = await bob.data(
        f"mutation($c: ID!) {{ widgetTypingSet(input: {{conversationId: $c, on: true}}) {{ accepted {ERR} }} }}",
        {"c": conv},
    )
    assert typing["widgetTypingSet"]["accepted"] is False
    await w.set_status(conv, "RESOLVED")
    csat = await bob.data(CSAT, {"c": conv, "r": 1, "f": "x"})
    assert [e["code"] for e in csat["widgetCsatSubmit"]["errors"]] == ["NOT_FOUND"]
    # The resolution wrote an activity line: agents only.
    assert [m["content"] for m in await alice.messages(conv)] == ["Alice's question", "Agent's public answer"]

    # A visitor of another account's widget: nothing either.
    stranger = await (await make_widget(gql)).visitor()
    assert await stranger.messages(conv) == []
    assert (await stranger.send("hi", conv))["errors"][0]["code"] == "NOT_FOUND"

    # A contact session is nobody to the agent API, whatever account header it adds.
    for document in (
        "{ conversations { edges { node { id } } } }",
        "{ me { user { id } } }",
        f'query {{ conversation(id: "{conv}") {{ id }} }}',
        "{ agentPresence { status } }",
    ):
        body = await alice.run(document, **{"X-Parley-Account": w.admin.account_id})
        assert top_code(body) in ("UNAUTHENTICATED", "FORBIDDEN"), (document, body)
        assert "Alice" not in json.dumps(body.get("data"))
    # And an agent is nobody to the widget API.
    body = await gql.execute("{ widgetConversations { id } }", headers=w.admin.headers())
    assert top_code(body) == "FORBIDDEN"
    # An agent's socket cannot subscribe to widgetEvents either.
    async with SubscriptionSocket(
        gql.base_url.replace("http", "ws") + "/graphql",
        payload={"token": w.admin.access, "accountId": w.admin.account_id},
    ) as sock:
        await sock.subscribe(EVENTS)
        msg = await sock.receive()
        assert msg["type"] in ("error", "next") and "FORBIDDEN" in json.dumps(msg), msg


# --- the event stream -----------------------------------------------------------------------------------


async def _next_event(sock: SubscriptionSocket, timeout: float = 10) -> dict:
    return (await sock.next_data(timeout))["widgetEvents"]


async def test_widget_events_are_the_visitors_own_and_resume_by_cursor(gql, server):
    w = await make_widget(gql)
    v = await w.visitor()
    other = await w.visitor()
    conv = (await v.send("first"))["conversation"]["id"]
    other_conv = (await other.send("someone else"))["conversation"]["id"]
    ws_url = server.ws_url

    sock = SubscriptionSocket(ws_url, payload={"token": v.token})
    await sock.connect()
    await sock.subscribe(EVENTS)
    await asyncio.sleep(0.3)
    await w.reply(other_conv, "not for v")
    await w.reply(conv, "hidden note", private=True)
    await w.reply(conv, "public reply")
    event = await _next_event(sock)
    assert event["type"] == "message.created" and event["message"]["content"] == "public reply", event
    assert event["message"]["senderName"] and event["message"]["fromContact"] is False
    # Typing: a reply being typed is shown with the agent's name; a note being typed is not.
    for private in (True, False):
        body = await w.agent(
            "mutation($c: ID!, $p: Boolean!) { typingSet(input: {conversationId: $c, on: true, private: $p}) { accepted } }",
            {"c": conv, "p": private},
        )
        assert body["typingSet"]["accepted"]
    typing = await _next_event(sock)
    assert (
        typing["type"] == "typing.on" and typing["typing"]["agentName"] and typing["typing"]["conversationId"] == conv
    )
    await w.set_status(conv, "RESOLVED")
    status = await _next_event(sock)
    while status["type"].startswith("typing"):
        status = await _next_event(sock)
    assert status["type"] == "conversation.status_changed" and status["conversation"]["status"] == "RESOLVED"
    cursor = status["cursor"]
    await sock.close()

    # While disconnected: two replies (and a note); resuming after the cursor yields exactly the replies.
    await w.reply(conv, "missed one")
    await w.reply(conv, "private again", private=True)
    await w.reply(conv, "missed two")
    async with SubscriptionSocket(ws_url, payload={"token": v.token}) as again:
        await again.subscribe(EVENTS, {"a": cursor})
        got = []
        while len([e for e in got if e["type"] == "message.created"]) < 2:
            got.append(await _next_event(again))
        contents = [e["message"]["content"] for e in got if e["type"] == "message.created"]
        assert contents == ["missed one", "missed two"]
        assert all("private" not in json.dumps(e) and "not for v" not in json.dumps(e) for e in got)
        with pytest.raises(asyncio.TimeoutError):
            extra = await _next_event(again, timeout=1.0)
            assert extra["type"].startswith("typing"), extra  # nothing else may follow
            raise TimeoutError


# --- CSAT -----------------------------------------------------------------------------------------------


async def test_csat_after_resolution_once_per_conversation(gql, db_engine):
    w = await make_widget(gql)
    v = await w.visitor()
    conv = (await v.send("help"))["conversation"]["id"]
    early = await v.data(CSAT, {"c": conv, "r": 5, "f": "great"})
    assert [e["code"] for e in early["widgetCsatSubmit"]["errors"]] == ["NOT_RESOLVED"]
    await w.set_status(conv, "RESOLVED")
    bad = await v.data(CSAT, {"c": conv, "r": 6, "f": ""})
    assert [e["code"] for e in bad["widgetCsatSubmit"]["errors"]] == ["INVALID"]
    ok = await v.data(CSAT, {"c": conv, "r": 5, "f": "great"})
    assert ok["widgetCsatSubmit"] == {"conversation": {"id": conv, "csatRating": 5}, "errors": []}
    again = await v.data(CSAT, {"c": conv, "r": 3, "f": "on reflection"})
    assert again["widgetCsatSubmit"]["conversation"]["csatRating"] == 3
    async with db_engine.connect() as conn:
        rows = (await conn.execute(text("SELECT rating, feedback FROM csat_responses"))).all()
    assert [tuple(r) for r in rows] == [(3, "on reflection")]
    listed = (await v.data("{ widgetConversations { id csatRating status } }"))["widgetConversations"]
    assert listed == [{"id": conv, "csatRating": 3, "status": "RESOLVED"}]


# --- origins --------------------------------------------------------------------------------------------


async def test_origins_http_and_websocket(gql, server):
    w = await make_widget(gql, allowed=["shop.example", "*.brand.example"])
    open_widget = await make_widget(gql, w.admin, name="Anywhere")
    config = "query($w: String!) { widgetConfig(websiteToken: $w) { name } }"

    async with httpx.AsyncClient(base_url=server.url) as client:

        async def post(document, variables, origin, token=None):
            headers = {"Origin": origin}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            return await client.post("/graphql", json={"query": document, "variables": variables}, headers=headers)

        allowed = await post(config, {"w": w.website_token}, "https://shop.example")
        assert allowed.json()["data"]["widgetConfig"]["name"] == "Website"
        assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
        assert "access-control-allow-credentials" not in allowed.headers
        sub = await post(config, {"w": w.website_token}, "https://eu.brand.example")
        assert "errors" not in sub.json()
        evil = await post(config, {"w": w.website_token}, "https://evil.example")
        assert top_code(evil.json()) == "FORBIDDEN"
        assert "data" not in evil.json() or evil.json()["data"] is None
        anywhere = await post(config, {"w": open_widget.website_token}, "https://evil.example")
        assert anywhere.json()["data"]["widgetConfig"]["name"] == "Anywhere"

        preflight = await client.options(
            "/graphql",
            headers={
                "Origin": "https://shop.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert (
            preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == "https://shop.example"
        )
        assert "access-control-allow-credentials" not in preflight.headers

        started = (await post(START, {"i": {"websiteToken": w.website_token}}, "https://shop.example")).json()
        token = started["data"]["widgetSessionStart"]["token"]
        assert token
        mine = await post("{ widgetConversations { id } }", {}, "https://shop.example", token)
        assert mine.json() == {"data": {"widgetConversations": []}}
        stolen = await post("{ widgetConversations { id } }", {}, "https://evil.example", token)
        assert top_code(stolen.json()) == "FORBIDDEN"
        refused_start = await post(START, {"i": {"websiteToken": w.website_token}}, "https://evil.example")
        assert top_code(refused_start.json()) == "FORBIDDEN"

        # The dashboard: an agent's bearer answer is not readable cross-origin, and its cookie is refused.
        agent = await post("{ me { user { id } } }", {}, "https://evil.example", w.admin.access)
        assert "access-control-allow-origin" not in agent.headers
        client.cookies.set("parley_access", w.admin.access)
        cookie = await client.post(
            "/graphql",
            json={"query": "{ me { user { id } } }"},
            headers={"Origin": "https://evil.example", "X-Parley-CSRF": "1", "X-Parley-Account": w.admin.account_id},
        )
        assert "access-control-allow-credentials" not in cookie.headers
        assert top_code(cookie.json()) == "FORBIDDEN"

    # WebSocket: a widget session from an allowed domain; nothing else from another origin.
    async with SubscriptionSocket(
        server.ws_url, payload={"token": token}, headers={"Origin": "https://shop.example"}
    ) as sock:
        await sock.subscribe(EVENTS)
    with pytest.raises(ConnectionClosed):
        async with SubscriptionSocket(
            server.ws_url, payload={"token": token}, headers={"Origin": "https://evil.example"}
        ):
            pass
    with pytest.raises(ConnectionClosed):
        async with SubscriptionSocket(
            server.ws_url,
            payload={"token": w.admin.access, "accountId": w.admin.account_id},
            headers={"Origin": "https://shop.example"},
        ):
            pass
    # The dashboard's own socket (same origin) is unaffected.
    async with SubscriptionSocket(
        server.ws_url,
        payload={"token": w.admin.access, "accountId": w.admin.account_id},
        headers={"Origin": server.url},
    ):
        pass


# --- abuse limits ---------------------------------------------------------------------------------------


async def test_limits_size_rate_and_blocked_contacts(gql, server):
    s = server.settings
    w = await make_widget(gql)
    v = await w.visitor()
    too_long = await v.send("x" * (s.widget_max_message_chars + 1))
    assert [e["code"] for e in too_long["errors"]] == ["TOO_LONG"]

    # New conversations per session.
    codes = []
    for i in range(s.widget_conversations_per_session_per_minute + 1):
        codes.append(top_code(await v.run(SEND, {"i": {"content": f"new {i}"}})))
    assert codes[:-1] == [None] * s.widget_conversations_per_session_per_minute and codes[-1] == "RATE_LIMITED"

    # Messages per session.
    conv = (await v.data("{ widgetConversations { id } }"))["widgetConversations"][0]["id"]
    limited = None
    for i in range(s.widget_messages_per_session_per_minute + 1):
        body = await v.run(SEND, {"i": {"content": f"m{i}", "conversationId": conv}})
        if top_code(body):
            limited = top_code(body)
            break
    assert limited == "RATE_LIMITED"

    # New sessions per IP.
    seen = []
    for _ in range(s.widget_sessions_per_ip_per_minute + 1):
        seen.append(top_code(await gql.execute(START, {"i": {"websiteToken": w.website_token}})))
    assert "RATE_LIMITED" in seen


async def test_a_blocked_contact_can_write_but_stays_resolved(gql):
    w = await make_widget(gql)
    v = await w.visitor()
    conv = (await v.send("first"))["conversation"]["id"]
    muted = await w.agent(
        f"mutation($id: ID!) {{ conversationMute(id: $id, muted: true) {{ conversation {{ status }} {ERR} }} }}",
        {"id": conv},
    )
    assert muted["conversationMute"]["conversation"]["status"] == "RESOLVED"
    again = await v.send("still here", conv)
    assert again["errors"] == [] and again["conversation"]["status"] == "RESOLVED"
    fresh = await v.send("a new conversation")
    assert fresh["errors"] == [] and fresh["conversation"]["status"] == "RESOLVED"
    listed = await w.agent("query($id: ID!) { conversation(id: $id) { status lastMessage { content } } }", {"id": conv})
    assert listed["conversation"] == {"status": "RESOLVED", "lastMessage": {"content": "still here"}}


async def test_widget_script_and_demo_page(gql, server):
    w = await make_widget(gql)
    async with httpx.AsyncClient(base_url=server.url) as client:
        script = await client.get("/widget.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert b"graphql-transport-ws" in script.content
        demo = await client.get("/widget/demo", params={"token": w.website_token})
        assert demo.status_code == 200 and f'data-website-token="{w.website_token}"' in demo.text
        bad = await client.get("/widget/demo", params={"token": '"><script>alert(1)</script>'})
        assert bad.status_code == 400 and "<script>alert" not in bad.text


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x03\x00\x00\x00\x02\x08\x02\x00\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x00IEND\x00\x00\x00\x00"
)
UPLOAD = f"""mutation($n: String!, $t: String!, $s: Int!) {{ widgetAttachmentUploadCreate(input: {{fileName: $n, contentType: $t, byteSize: $s}}) {{
  attachment {{ id }} upload {{ url method headers {{ name value }} }} {ERR} }} }}"""


async def test_visitors_attach_their_own_uploads_only(gql, server):
    w = await make_widget(gql)
    v, other = await w.visitor(), await w.visitor()

    async def upload(who: Visitor) -> str:
        body = (await who.data(UPLOAD, {"n": "shot.png", "t": "image/png", "s": len(PNG)}))[
            "widgetAttachmentUploadCreate"
        ]
        assert body["errors"] == [], body
        up = body["upload"]
        path = "/" + up["url"].split("/", 3)[3]  # the local backend's upload route on this server
        async with httpx.AsyncClient(base_url=server.url) as client:
            resp = await client.request(
                up["method"], path, content=PNG, headers={h["name"]: h["value"] for h in up["headers"]}
            )
        assert resp.status_code in (200, 201, 204), resp.text
        return body["attachment"]["id"]

    mine, theirs = await upload(v), await upload(other)
    stolen = await v.data(SEND, {"i": {"content": "", "attachmentIds": [theirs]}})
    assert [e["code"] for e in stolen["widgetMessageCreate"]["errors"]] == ["NOT_FOUND"]
    sent = (
        await v.data(
            SEND.replace("deleted", "deleted attachments { fileName downloadUrl }"),
            {"i": {"content": "", "attachmentIds": [mine]}},
        )
    )["widgetMessageCreate"]
    assert sent["errors"] == [], sent
    assert [a["fileName"] for a in sent["message"]["attachments"]] == ["shot.png"]
    listed = await v.data(
        MESSAGES.replace("deleted", "deleted attachments { fileName downloadUrl }"),
        {"c": sent["conversation"]["id"], "a": None},
    )
    files = listed["widgetMessages"]["edges"][0]["node"]["attachments"]
    assert files[0]["fileName"] == "shot.png" and files[0]["downloadUrl"]
