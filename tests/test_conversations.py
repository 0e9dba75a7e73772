"""An agent works a conversation end to end through GraphQL alone, and bad input changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.support.desk import CONVERSATION_FIELDS, ERR, Desk, build_desk

LIST = f"""query($f: ConversationFilterInput, $first: Int, $after: String, $sort: ConversationSort) {{
  conversations(filter: $f, first: $first, after: $after, sort: $sort) {{
    edges {{ cursor node {{ {CONVERSATION_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""
MESSAGES = """query($id: ID!, $before: String) { conversation(id: $id) { messages(first: 50, before: $before) {
  edges { node { id content messageType private senderType senderUser { email } senderContact { name } contentAttributes } }
  pageInfo { hasNextPage endCursor } } } }"""
REPLY = f"""mutation($c: ID!, $t: String!, $p: Boolean) {{
  messageCreate(input: {{conversationId: $c, content: $t, private: $p}}) {{ message {{ id content private contentAttributes }} {ERR} }} }}"""
STATUS = f"""mutation($id: ID!, $s: ConversationStatus!, $u: DateTime) {{
  conversationStatusUpdate(id: $id, input: {{status: $s, snoozedUntil: $u}}) {{ conversation {{ status snoozedUntil }} {ERR} }} }}"""
ASSIGN = f"""mutation($id: ID!, $a: ID) {{ conversationAssign(id: $id, input: {{assigneeId: $a}}) {{
  conversation {{ assignee {{ email }} }} {ERR} }} }}"""
LABELS = f"""mutation($id: ID!, $add: [String!]!, $remove: [String!]!) {{
  conversationLabelsUpdate(id: $id, input: {{add: $add, remove: $remove}}) {{ conversation {{ labels {{ title }} }} {ERR} }} }}"""


@pytest.fixture
async def desk(gql, smtp) -> Desk:
    return await build_desk(gql, smtp)


async def create_label(desk: Desk, title: str) -> None:
    body = await desk.data(
        desk.admin,
        "mutation($t: String!) { labelCreate(input: {title: $t}) { label { id } errors { code } } }",
        {"t": title},
    )
    assert body["labelCreate"]["errors"] == []


async def messages_of(desk: Desk, who, conversation_id: str) -> list[dict]:
    body = await desk.data(who, MESSAGES, {"id": conversation_id})
    return [e["node"] for e in body["conversation"]["messages"]["edges"]]


async def test_find_the_conversation_and_read_its_messages(desk: Desk):
    conv = await desk.new_conversation("Where is my parcel #4711?")
    await desk.new_conversation("Something else entirely")
    found = await desk.data(desk.agent, LIST, {"f": {"status": "OPEN", "assignee": "unassigned", "search": "parcel"}})
    nodes = [e["node"] for e in found["conversations"]["edges"]]
    assert [n["id"] for n in nodes] == [conv["id"]]
    assert nodes[0]["contact"]["name"] == "Carla Customer" and nodes[0]["unreadCount"] == 1
    assert nodes[0]["lastMessage"] == {"content": "Where is my parcel #4711?", "messageType": "INCOMING"}
    assert nodes[0]["waitingSince"] is not None
    msgs = await messages_of(desk, desk.agent, conv["id"])
    assert msgs[0]["content"] == "Where is my parcel #4711?" and msgs[0]["senderContact"]["name"] == "Carla Customer"
    by_display = await desk.data(
        desk.agent, "query($d: Int) { conversation(displayId: $d) { id } }", {"d": conv["displayId"]}
    )
    assert by_display["conversation"]["id"] == conv["id"]


async def test_reply_records_the_first_reply_and_stops_the_wait(desk: Desk):
    conv = await desk.new_conversation()
    body = await desk.data(desk.agent, REPLY, {"c": conv["id"], "t": "It ships today."})
    assert body["messageCreate"]["errors"] == [] and body["messageCreate"]["message"]["private"] is False
    state = (await desk.conversation(desk.agent, conv["id"]))["data"]["conversation"]
    assert state["firstReplyCreatedAt"] is not None and state["waitingSince"] is None
    msgs = await messages_of(desk, desk.agent, conv["id"])
    assert msgs[0]["content"] == "It ships today." and msgs[0]["senderUser"]["email"] == desk.agent.email
    assert msgs[0]["messageType"] == "OUTGOING"
    # Reading it marks it read.
    await desk.data(
        desk.agent,
        "mutation($id: ID!) { conversationMarkRead(id: $id) { conversation { unreadCount } } }",
        {"id": conv["id"]},
    )
    assert (await desk.conversation(desk.agent, conv["id"]))["data"]["conversation"]["unreadCount"] == 0


async def test_private_note_mentioning_a_colleague(desk: Desk, db_engine):
    conv = await desk.new_conversation()
    admin_pk = desk.user_ids["admin"]
    from schema.core.ids import decode_id

    note = f"@[Ada](mention://user/{decode_id(admin_pk, 'User')}/Ada) can you check the refund?"
    body = await desk.data(desk.agent, REPLY, {"c": conv["id"], "t": note, "p": True})
    message = body["messageCreate"]["message"]
    assert message["private"] is True
    assert message["contentAttributes"]["mentioned_user_ids"] == [decode_id(admin_pk, "User")]
    async with db_engine.connect() as c:
        mentions = (await c.execute(text("SELECT user_id FROM mentions"))).scalars().all()
        participants = set((await c.execute(text("SELECT user_id FROM conversation_participants"))).scalars().all())
        mentioned_events = (
            (await c.execute(text("SELECT private FROM events WHERE type = 'conversation.mentioned'"))).scalars().all()
        )
    assert mentions == [decode_id(admin_pk, "User")]
    assert decode_id(admin_pk, "User") in participants and mentioned_events == [True]
    # A private note does not count as a reply to the contact.
    assert (await desk.conversation(desk.agent, conv["id"]))["data"]["conversation"]["firstReplyCreatedAt"] is None


async def test_label_assign_snooze_and_resolve(desk: Desk):
    conv = await desk.new_conversation()
    await create_label(desk, "Billing")
    labelled = await desk.data(desk.agent, LABELS, {"id": conv["id"], "add": ["billing"], "remove": []})
    assert labelled["conversationLabelsUpdate"]["conversation"]["labels"] == [{"title": "billing"}]

    assigned = await desk.data(desk.agent, ASSIGN, {"id": conv["id"], "a": desk.user_ids["agent"]})
    assert assigned["conversationAssign"]["conversation"]["assignee"]["email"] == desk.agent.email
    mine = await desk.data(desk.agent, LIST, {"f": {"assignee": "me"}})
    assert [e["node"]["id"] for e in mine["conversations"]["edges"]] == [conv["id"]]

    until = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    snoozed = await desk.data(desk.agent, STATUS, {"id": conv["id"], "s": "SNOOZED", "u": until})
    assert snoozed["conversationStatusUpdate"]["conversation"]["status"] == "SNOOZED"
    # The contact writes again: the conversation reopens.
    await desk.incoming(conv["id"], "Any news?")
    assert (await desk.conversation(desk.agent, conv["id"]))["data"]["conversation"]["status"] == "OPEN"

    resolved = await desk.data(desk.agent, STATUS, {"id": conv["id"], "s": "RESOLVED"})
    assert resolved["conversationStatusUpdate"]["conversation"]["status"] == "RESOLVED"
    activity = [m["content"] for m in await messages_of(desk, desk.agent, conv["id"]) if m["messageType"] == "ACTIVITY"]
    assert any("added billing" in a for a in activity)
    assert any("self-assigned" in a for a in activity)
    assert any("snoozed" in a for a in activity) and any("marked resolved" in a for a in activity)
    await desk.incoming(conv["id"], "One more thing")
    assert (await desk.conversation(desk.agent, conv["id"]))["data"]["conversation"]["status"] == "OPEN"


async def test_every_change_wrote_its_event_in_order(desk: Desk, db_engine):
    conv = await desk.new_conversation()
    await desk.data(desk.agent, REPLY, {"c": conv["id"], "t": "On it"})
    await desk.data(desk.agent, STATUS, {"id": conv["id"], "s": "RESOLVED"})
    async with db_engine.connect() as c:
        rows = (
            await c.execute(text("SELECT type, position, relayed_at IS NOT NULL FROM events ORDER BY position"))
        ).all()
    types = [r[0] for r in rows]
    assert types[:1] == ["inbox.created"]
    assert "conversation.created" in types and "first.reply.created" in types
    assert types[-1] == "conversation.status_changed"
    assert [r[1] for r in rows] == list(range(1, len(rows) + 1)), "positions are gap-free per account"
    assert all(r[2] for r in rows), "every committed event was relayed"


@pytest.mark.parametrize(
    ("case", "document", "variables", "field", "code"),
    [
        (
            "unknown label",
            LABELS,
            lambda d, c: {"id": c, "add": ["no-such-label"], "remove": []},
            "labels",
            "UNKNOWN_LABEL",
        ),
        (
            "assignee outside the inbox",
            ASSIGN,
            lambda d, c: {"id": c, "a": d.user_ids["outsider"]},
            "assigneeId",
            "ASSIGNEE_NOT_IN_INBOX",
        ),
        (
            "snooze in the past",
            STATUS,
            lambda d, c: {"id": c, "s": "SNOOZED", "u": "2020-01-01T00:00:00+00:00"},
            "snoozedUntil",
            "SNOOZE_IN_PAST",
        ),
        (
            "wake-up time without snoozing",
            STATUS,
            lambda d, c: {"id": c, "s": "RESOLVED", "u": (datetime.now(UTC) + timedelta(hours=1)).isoformat()},
            "snoozedUntil",
            "INVALID",
        ),
        ("message too long", REPLY, lambda d, c: {"c": c, "t": "x" * 150_001}, "content", "TOO_LONG"),
        ("empty message", REPLY, lambda d, c: {"c": c, "t": "   "}, "content", "REQUIRED"),
        (
            "custom attribute of the wrong type",
            f'mutation($id: ID!) {{ conversationCustomAttributesUpdate(id: $id, values: {{order_total: "lots"}}) {{ {ERR} }} }}',
            lambda d, c: {"id": c},
            "customAttributes.order_total",
            "INVALID_ATTRIBUTE",
        ),
        (
            "custom attribute without definition",
            f"mutation($id: ID!) {{ conversationCustomAttributesUpdate(id: $id, values: {{nope: 1}}) {{ {ERR} }} }}",
            lambda d, c: {"id": c},
            "customAttributes.nope",
            "UNKNOWN_ATTRIBUTE",
        ),
    ],
)
async def test_invalid_input_gets_a_typed_error_and_changes_nothing(
    desk: Desk, db_engine, case, document, variables, field, code
):
    await desk.data(
        desk.admin,
        """mutation { customAttributeDefinitionCreate(input: {key: "order_total",
        displayName: "Order total", displayType: NUMBER, model: CONVERSATION}) { errors { code } } }""",
    )
    conv = await desk.new_conversation()
    before = (await desk.conversation(desk.agent, conv["id"]))["data"]
    async with db_engine.connect() as c:
        events_before = (await c.execute(text("SELECT count(*) FROM events"))).scalar()
        messages_before = (await c.execute(text("SELECT count(*) FROM messages"))).scalar()
    body = await desk.data(desk.agent, document, variables(desk, conv["id"]))
    payload = next(iter(body.values()))
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, code)], case
    assert payload["errors"][0]["message"]
    assert (await desk.conversation(desk.agent, conv["id"]))["data"] == before, case
    async with db_engine.connect() as c:
        assert (await c.execute(text("SELECT count(*) FROM events"))).scalar() == events_before, case
        assert (await c.execute(text("SELECT count(*) FROM messages"))).scalar() == messages_before, case


async def test_agents_see_only_conversations_of_their_inboxes(desk: Desk):
    conv = await desk.new_conversation()
    listed = await desk.data(desk.outsider, LIST, {})
    assert listed["conversations"]["edges"] == []
    body = await desk.conversation(desk.outsider, conv["id"])
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    reply = await desk.run(desk.outsider, REPLY, {"c": conv["id"], "t": "hi"})
    assert reply["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    counts = await desk.data(desk.outsider, "{ conversationCounts { open mine unassigned } }")
    assert counts["conversationCounts"] == {"open": 0, "mine": 0, "unassigned": 0}
    counts = await desk.data(desk.agent, "{ conversationCounts { open pending resolved snoozed mine unassigned } }")
    assert counts["conversationCounts"] == {
        "open": 1,
        "pending": 0,
        "resolved": 0,
        "snoozed": 0,
        "mine": 0,
        "unassigned": 1,
    }
    assert len((await desk.data(desk.admin, LIST, {}))["conversations"]["edges"]) == 1


async def test_custom_role_participating_narrows_to_own_conversations(desk: Desk):
    role = await desk.data(
        desk.admin,
        'mutation { customRoleCreate(input: {name: "Mine only", permissions: [CONVERSATION_PARTICIPATING_MANAGE]}) { customRole { id } } }',
    )
    members = await desk.data(desk.admin, "{ memberships { edges { node { id user { email } } } } }")
    membership = next(
        e["node"]["id"] for e in members["memberships"]["edges"] if e["node"]["user"]["email"] == desk.agent.email
    )
    await desk.data(
        desk.admin,
        "mutation($id: ID!, $r: ID) { membershipUpdate(id: $id, input: {customRoleId: $r}) { errors { code } } }",
        {"id": membership, "r": role["customRoleCreate"]["customRole"]["id"]},
    )
    theirs = await desk.new_conversation("assigned to the agent")
    other = await desk.new_conversation("nobody's")
    await desk.data(desk.admin, ASSIGN, {"id": theirs["id"], "a": desk.user_ids["agent"]})
    listed = await desk.data(desk.agent, LIST, {})
    assert [e["node"]["id"] for e in listed["conversations"]["edges"]] == [theirs["id"]]
    assert (await desk.conversation(desk.agent, other["id"]))["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_bulk_resolve_and_label_up_to_100(desk: Desk):
    await create_label(desk, "vip")
    ids = [(await desk.new_conversation(f"c{i}"))["id"] for i in range(3)]
    body = await desk.data(
        desk.agent,
        f"""mutation($ids: [ID!]!) {{ conversationBulkUpdate(input: {{ids: $ids, status: RESOLVED, addLabels: ["vip"]}}) {{
        conversations {{ status labels {{ title }} }} {ERR} }} }}""",
        {"ids": ids},
    )
    assert body["conversationBulkUpdate"]["errors"] == []
    assert [c["status"] for c in body["conversationBulkUpdate"]["conversations"]] == ["RESOLVED"] * 3
    too_many = await desk.data(
        desk.agent,
        f"mutation($ids: [ID!]!) {{ conversationBulkUpdate(input: {{ids: $ids, status: OPEN}}) {{ {ERR} }} }}",
        {"ids": ids * 34},
    )
    assert too_many["conversationBulkUpdate"]["errors"][0]["code"] == "TOO_MANY"
    # One unknown label refuses the whole batch.
    refused = await desk.data(
        desk.agent,
        f"""mutation($ids: [ID!]!) {{ conversationBulkUpdate(input: {{ids: $ids, status: OPEN, addLabels: ["zzz"]}}) {{ {ERR} }} }}""",
        {"ids": ids},
    )
    assert refused["conversationBulkUpdate"]["errors"][0]["code"] == "UNKNOWN_LABEL"
    listed = await desk.data(desk.agent, LIST, {"f": {"status": "RESOLVED", "label": "vip"}})
    assert len(listed["conversations"]["edges"]) == 3


async def test_edit_and_delete_keep_the_original(desk: Desk):
    conv = await desk.new_conversation()
    reply = (await desk.data(desk.agent, REPLY, {"c": conv["id"], "t": "Teh answer"}))["messageCreate"]["message"]
    edited = await desk.data(
        desk.agent,
        f'mutation($id: ID!) {{ messageUpdate(id: $id, content: "The answer") {{ message {{ content contentAttributes editedAt }} {ERR} }} }}',
        {"id": reply["id"]},
    )
    message = edited["messageUpdate"]["message"]
    assert (
        message["content"] == "The answer"
        and message["contentAttributes"]["previous_contents"][0]["content"] == "Teh answer"
    )
    other = await desk.run(
        desk.outsider, f"mutation($id: ID!) {{ messageDelete(id: $id) {{ {ERR} }} }}", {"id": reply["id"]}
    )
    assert other["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    deleted = await desk.data(
        desk.agent,
        f"mutation($id: ID!) {{ messageDelete(id: $id) {{ message {{ content contentAttributes deletedAt }} {ERR} }} }}",
        {"id": reply["id"]},
    )
    message = deleted["messageDelete"]["message"]
    assert message["deletedAt"] and message["contentAttributes"]["deleted"] is True
    assert message["contentAttributes"]["original_content"] == "The answer"


async def test_conversation_list_pages_by_keyset_cursor(desk: Desk):
    ids = [(await desk.new_conversation(f"c{i}"))["id"] for i in range(5)]
    seen, after = [], None
    while True:
        page = (await desk.data(desk.agent, LIST, {"first": 2, "after": after}))["conversations"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == list(reversed(ids))  # newest activity first
    created = (await desk.data(desk.agent, LIST, {"sort": "CREATED", "first": 100}))["conversations"]["edges"]
    assert [e["node"]["id"] for e in created] == list(reversed(ids))


async def test_contacts_unique_email_search_and_merge(desk: Desk):
    dup = await desk.data(
        desk.agent, f'mutation {{ contactCreate(input: {{email: "CARLA@example.test"}}) {{ {ERR} }} }}'
    )
    assert [(e["field"], e["code"]) for e in dup["contactCreate"]["errors"]] == [("email", "TAKEN")]
    bad = await desk.data(
        desk.agent, f'mutation {{ contactCreate(input: {{phoneNumber: "12", email: "x"}}) {{ {ERR} }} }}'
    )
    assert {e["code"] for e in bad["contactCreate"]["errors"]} == {"INVALID_PHONE", "INVALID_EMAIL"}
    other = await desk.data(
        desk.agent,
        f'mutation {{ contactCreate(input: {{name: "C. Customer", phoneNumber: "+49 30 1234567", identifier: "crm-9"}}) {{ contact {{ id phoneNumber }} {ERR} }} }}',
    )
    other_id = other["contactCreate"]["contact"]["id"]
    assert other["contactCreate"]["contact"]["phoneNumber"] == "+49301234567"
    found = await desk.data(desk.agent, 'query { contacts(search: "crm-9") { edges { node { id } } } }')
    assert [e["node"]["id"] for e in found["contacts"]["edges"]] == [other_id]
    conv = await desk.new_conversation("from the second record", contact_id=other_id)
    merged = await desk.data(
        desk.agent,
        f"mutation($a: ID!, $b: ID!) {{ contactMerge(baseContactId: $a, mergeeContactId: $b) {{ contact {{ email phoneNumber identifier }} {ERR} }} }}",
        {"a": desk.contact_id, "b": other_id},
    )
    assert merged["contactMerge"]["contact"] == {
        "email": "carla@example.test",
        "phoneNumber": "+49301234567",
        "identifier": "crm-9",
    }
    moved = (await desk.conversation(desk.agent, conv["id"]))["data"]["conversation"]
    assert moved["contact"]["id"] == desk.contact_id
    gone = await desk.run(desk.agent, "query($id: ID!) { contact(id: $id) { id } }", {"id": other_id})
    assert gone["errors"][0]["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.embedded
async def test_helpdesk_works_on_the_embedded_default(embedded_gql):
    """SQLite, no row locks, LIKE instead of trigram search: the same flow still holds."""
    from tests.support.accounts import signup

    admin = await signup(embedded_gql, account="Embedded")
    h = admin.headers()
    inbox = await embedded_gql.data(
        'mutation { inboxCreate(input: {name: "API", channelType: API}) { inbox { id } } }', headers=h
    )
    contact = await embedded_gql.data(
        'mutation { contactCreate(input: {name: "Eve", email: "eve@example.test"}) { contact { id } } }', headers=h
    )
    conv = await embedded_gql.data(
        'mutation($i: ID!, $c: ID!) { conversationCreate(input: {inboxId: $i, contactId: $c, message: "Welcome!"}) { conversation { id displayId } errors { code } } }',
        {"i": inbox["inboxCreate"]["inbox"]["id"], "c": contact["contactCreate"]["contact"]["id"]},
        headers=h,
    )
    conv_id = conv["conversationCreate"]["conversation"]["id"]
    await embedded_gql.data(
        f'mutation($c: ID!) {{ messageCreate(input: {{conversationId: $c, content: "Need help with invoices", messageType: INCOMING}}) {{ {ERR} }} }}',
        {"c": conv_id},
        headers=h,
    )
    found = await embedded_gql.data(LIST, {"f": {"search": "INVOICES"}}, headers=h)
    assert [e["node"]["id"] for e in found["conversations"]["edges"]] == [conv_id]
    resolved = await embedded_gql.data(STATUS, {"id": conv_id, "s": "RESOLVED"}, headers=h)
    assert resolved["conversationStatusUpdate"]["conversation"]["status"] == "RESOLVED"
    counts = await embedded_gql.data("{ conversationCounts { open resolved } }", headers=h)
    assert counts["conversationCounts"] == {"open": 0, "resolved": 1}
    second = await embedded_gql.data(
        "mutation($i: ID!, $c: ID!) { conversationCreate(input: {inboxId: $i, contactId: $c}) { conversation { displayId } } }",
        {"i": inbox["inboxCreate"]["inbox"]["id"], "c": contact["contactCreate"]["contact"]["id"]},
        headers=h,
    )
    assert (
        second["conversationCreate"]["conversation"]["displayId"]
        == conv["conversationCreate"]["conversation"]["displayId"] + 1
    )


async def test_priority_sort_puts_the_most_urgent_first_and_pages(desk: Desk):
    ids = {}
    for priority in ("LOW", None, "URGENT", "HIGH", "MEDIUM", "URGENT"):
        conv = await desk.new_conversation(f"p {priority}")
        if priority:
            await desk.data(
                desk.agent,
                f"mutation($id: ID!, $p: Priority) {{ conversationPriorityUpdate(id: $id, priority: $p) {{ {ERR} }} }}",
                {"id": conv["id"], "p": priority},
            )
        ids.setdefault(priority, []).append(conv["id"])
    seen, after = [], None
    while True:
        page = (await desk.data(desk.agent, LIST, {"sort": "PRIORITY", "first": 4, "after": after}))["conversations"]
        seen += [e["node"]["priority"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["URGENT", "URGENT", "HIGH", "MEDIUM", "LOW", None]
    bad = await desk.run(desk.agent, LIST, {"sort": "PRIORITY", "after": "Yzp4fDE"})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
