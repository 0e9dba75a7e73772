"""Conversation merge over GraphQL with the worker running: messages, notes, attachments, labels,
participants and mentions move into the kept conversation; both get activity lines; the merged one
is resolved and points to the kept one; a webhook receives `conversation_merged`; the account's
reports count every fact once; foreign, mismatched, self and repeated merges are refused."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from sqlalchemy import text

from schema.core.ids import decode_id
from tests.support.accounts import signup
from tests.support.desk import ERR, build_desk
from tests.support.receiver import Receiver
from tests.test_attachments import png, put_file, request_upload
from tests.test_reports import REPORT
from tests.test_webhooks import create_webhook, hook_settings  # noqa: F401 - the module's settings fixture

MERGE = f"""mutation($k: ID!, $m: ID!) {{ conversationMerge(keepId: $k, mergeId: $m) {{
  conversation {{ id displayId status mergedInto {{ id }} labels {{ title }} firstReplyCreatedAt }} {ERR} }} }}"""
READ = """query($id: ID!) { conversation(id: $id) { id displayId status mergedInto { id displayId }
  labels { title } lastMessage { content messageType } lastActivityAt firstReplyCreatedAt
  messages(first: 100) { edges { node { id content messageType private attachments { id fileName } } } } } }"""
MESSAGE = f"""mutation($c: ID!, $t: String!, $p: Boolean!, $a: [ID!]!) {{
  messageCreate(input: {{conversationId: $c, content: $t, private: $p, attachmentIds: $a}}) {{ message {{ id }} {ERR} }} }}"""
LABELS = f"""mutation($id: ID!, $add: [String!]!) {{ conversationLabelsUpdate(id: $id, input: {{add: $add}}) {{ {ERR} }} }}"""
LABEL_CREATE = f"mutation($t: String!) {{ labelCreate(input: {{title: $t}}) {{ {ERR} }} }}"


async def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


async def _say(desk, who, conversation_id: str, content: str, private: bool = False, attachments=None) -> str:
    body = await desk.data(who, MESSAGE, {"c": conversation_id, "t": content, "p": private, "a": attachments or []})
    assert body["messageCreate"]["errors"] == [], body
    return body["messageCreate"]["message"]["id"]


async def _upload(desk, server, name: str, data: bytes) -> str:
    """An attachment uploaded as a browser would, to this server (the session server's public
    storage address is its configured base URL, not the loopback port it listens on)."""
    payload = await request_upload(desk, desk.agent, name, "image/png", len(data))
    assert payload["errors"] == [], payload
    upload = payload["upload"]
    path = urlsplit(upload["url"])
    upload = {**upload, "url": server.url.rstrip("/") + path.path + (f"?{path.query}" if path.query else "")}
    response = await put_file(upload, data, "image/png")
    assert response.status_code in (200, 201, 204), response.text
    return payload["attachment"]["id"]


async def _report(desk) -> dict:
    today = time.strftime("%Y-%m-%d", time.gmtime())
    yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
    body = await desk.data(desk.admin, REPORT, {"i": {"since": yesterday, "until": today}})
    s = body["report"]["summary"]
    return {
        k: s[k]
        for k in (
            "conversationsOpened",
            "conversationsResolved",
            "incomingMessages",
            "outgoingMessages",
        )
    } | {"firstResponses": s["firstResponse"]["count"]}


async def _reporting_rows(db_engine, account_pk: int) -> dict[str, int]:
    async with db_engine.connect() as c:
        rows = await c.execute(
            text("SELECT name, count(*) FROM reporting_events WHERE account_id = :a GROUP BY name"), {"a": account_pk}
        )
        return dict(rows.all())


async def test_merge_moves_everything_and_reports_count_once(gql, smtp, db_engine, server, hook_settings):
    desk = await build_desk(gql, smtp)
    with Receiver() as receiver:
        await create_webhook(desk, receiver.url, ["CONVERSATION_MERGED", "CONVERSATION_STATUS_CHANGED"])
        for title in ("billing", "vip", "refund"):
            assert (await desk.data(desk.admin, LABEL_CREATE, {"t": title}))["labelCreate"]["errors"] == []
        keep = await desk.new_conversation("My order is late")
        merged = await desk.new_conversation("Also, the invoice is wrong")
        await _say(desk, desk.agent, keep["id"], "Looking into it")
        await _say(desk, desk.agent, merged["id"], "Sorry about the invoice")
        attachment = await _upload(desk, server, "invoice.png", png())
        with_file = await _say(desk, desk.agent, merged["id"], "The corrected invoice", attachments=[attachment])
        mention = f"@[Admin](mention://user/{decode_id(desk.user_ids['admin'], 'User')}/Admin) please check"
        note = await _say(desk, desk.agent, merged["id"], mention, private=True)
        assert (await desk.data(desk.agent, LABELS, {"id": keep["id"], "add": ["billing"]}))[
            "conversationLabelsUpdate"
        ]["errors"] == []
        assert (await desk.data(desk.agent, LABELS, {"id": merged["id"], "add": ["vip", "billing"]}))[
            "conversationLabelsUpdate"
        ]["errors"] == []
        account_pk = decode_id(desk.admin.headers()["X-Parley-Account"], "Account")

        async def recorded():
            rows = await _reporting_rows(db_engine, account_pk)
            return rows if rows.get("outgoing_message") == 3 and rows.get("first_response") == 2 else None

        rows_before = await wait_for(recorded)
        report_before = await _report(desk)
        assert report_before["conversationsOpened"] == 2 and report_before["outgoingMessages"] == 3

        body = await desk.data(desk.agent, MERGE, {"k": keep["id"], "m": merged["id"]})
        out = body["conversationMerge"]
        assert out["errors"] == [], out
        assert out["conversation"]["id"] == keep["id"] and out["conversation"]["mergedInto"] is None
        assert [label["title"] for label in out["conversation"]["labels"]] == ["billing", "vip"]

        kept = (await desk.data(desk.agent, READ, {"id": keep["id"]}))["conversation"]
        nodes = [e["node"] for e in kept["messages"]["edges"]]
        contents = [n["content"] for n in nodes]
        for expected in (
            "My order is late",
            "Looking into it",
            "Also, the invoice is wrong",
            "Sorry about the invoice",
            "The corrected invoice",
            mention,
        ):
            assert expected in contents, expected
        by_id = {n["id"]: n for n in nodes}
        assert by_id[with_file]["attachments"][0]["fileName"] == "invoice.png"
        assert by_id[note]["private"] is True
        merged_line = f"#{merged['displayId']} was merged into this conversation"
        assert any(c.startswith(merged_line) for c in contents), contents
        assert kept["lastMessage"]["messageType"] == "ACTIVITY" and kept["status"] == "OPEN"

        gone = (await desk.data(desk.agent, READ, {"id": merged["id"]}))["conversation"]
        assert gone["status"] == "RESOLVED"
        assert gone["mergedInto"] == {"id": keep["id"], "displayId": keep["displayId"]}
        left = [e["node"] for e in gone["messages"]["edges"]]
        assert all(n["messageType"] == "ACTIVITY" for n in left), left
        assert any(n["content"].startswith(f"Merged #{merged['displayId']} into #{keep['displayId']}") for n in left)
        assert [label["title"] for label in gone["labels"]] == ["billing", "vip"]  # the record stays

        # The mentioned administrator now has the kept conversation in their mentions tab, and takes part.
        for name in ("MENTIONS", "PARTICIPATING"):
            tab = await desk.data(
                desk.admin,
                "query($f: ConversationFilterInput) { conversations(filter: $f) { edges { node { id } } } }",
                {"f": {"tab": name}},
            )
            assert keep["id"] in {e["node"]["id"] for e in tab["conversations"]["edges"]}, name

        # The webhook receiver gets the merge (naming both) and the merged conversation's resolve.
        async def delivered():
            events = [r.json() for r in receiver.requests]
            names = [e["event"] for e in events]
            return events if "conversation_merged" in names and "conversation_status_changed" in names else None

        events = await wait_for(delivered)
        merge_event = next(e for e in events if e["event"] == "conversation_merged")
        assert merge_event["conversation"]["id"] == keep["id"]
        assert merge_event["mergedConversation"]["id"] == merged["id"]
        assert merge_event["mergedConversation"]["mergedInto"] == keep["id"]
        assert merge_event["mergedConversation"]["status"] == "RESOLVED"
        status_event = next(e for e in events if e["event"] == "conversation_status_changed")
        assert status_event["conversation"]["id"] == merged["id"]
        assert [e["event"] for e in events].count("conversation_merged") == 1

        # Reports: the merge's resolve is not a resolution and moved messages are not counted again.
        async def settled():
            async with db_engine.connect() as c:
                open_jobs = await c.scalar(
                    text(
                        "SELECT count(*) FROM outbox_jobs WHERE actor_name = 'reports.record' AND completed_at IS NULL"
                    )
                )
            return open_jobs == 0

        await wait_for(settled)
        assert await _reporting_rows(db_engine, account_pk) == rows_before
        assert await _report(desk) == report_before
        async with db_engine.connect() as c:
            logged = await c.scalar(
                text("SELECT count(*) FROM events WHERE account_id = :a AND type = 'conversation.merged'"),
                {"a": account_pk},
            )
        assert logged == 1


async def test_merges_that_cannot_be_are_refused_and_change_nothing(gql, smtp):
    desk = await build_desk(gql, smtp)
    one = await desk.new_conversation("first")
    two = await desk.new_conversation("second")
    three = await desk.new_conversation("third")
    other_contact = (
        await desk.data(
            desk.admin, f'mutation {{ contactCreate(input: {{name: "Olga"}}) {{ contact {{ id }} {ERR} }} }}'
        )
    )["contactCreate"]["contact"]["id"]
    olga = await desk.new_conversation("not Carla", contact_id=other_contact)

    async def refused(who, keep: str, merge: str) -> list[tuple[str, str]]:
        body = await desk.data(who, MERGE, {"k": keep, "m": merge})
        assert body["conversationMerge"]["conversation"] is None
        return [(e["field"], e["code"]) for e in body["conversationMerge"]["errors"]]

    assert await refused(desk.agent, one["id"], one["id"]) == [("mergeId", "SAME_CONVERSATION")]
    assert await refused(desk.agent, one["id"], olga["id"]) == [("mergeId", "DIFFERENT_CONTACT")]
    assert (await desk.data(desk.agent, MERGE, {"k": one["id"], "m": two["id"]}))["conversationMerge"]["errors"] == []
    assert await refused(desk.agent, three["id"], two["id"]) == [("mergeId", "ALREADY_MERGED")]
    assert await refused(desk.agent, two["id"], three["id"]) == [("keepId", "ALREADY_MERGED")]
    after = (await desk.data(desk.agent, READ, {"id": three["id"]}))["conversation"]
    assert after["status"] == "OPEN" and after["mergedInto"] is None
    assert [e["node"]["content"] for e in after["messages"]["edges"]] == ["third"]
    olga_after = (await desk.data(desk.agent, READ, {"id": olga["id"]}))["conversation"]
    assert olga_after["status"] == "OPEN" and len(olga_after["messages"]["edges"]) == 1

    # An agent who cannot see one of the two (another inbox), and an agent of no inbox: NOT_FOUND.
    inbox2 = (
        await desk.data(
            desk.admin,
            f"""mutation {{ inboxCreate(input: {{name: "Other", channelType: API,
              settings: {{enableAutoAssignment: false}}}}) {{ inbox {{ id }} {ERR} }} }}""",
        )
    )["inboxCreate"]["inbox"]["id"]
    hidden = (
        await desk.data(
            desk.admin,
            f"""mutation($i: ID!, $c: ID!) {{ conversationCreate(input: {{inboxId: $i, contactId: $c, message: "x"}})
              {{ conversation {{ id }} {ERR} }} }}""",
            {"i": inbox2, "c": desk.contact_id},
        )
    )["conversationCreate"]["conversation"]["id"]
    for who, keep, merge in (
        (desk.agent, three["id"], hidden),
        (desk.agent, hidden, three["id"]),
        (desk.outsider, one["id"], three["id"]),
    ):
        body = await desk.run(who, MERGE, {"k": keep, "m": merge})
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", body
    hidden_after = (await desk.data(desk.admin, READ, {"id": hidden}))["conversation"]
    assert hidden_after["mergedInto"] is None and hidden_after["status"] == "OPEN"
    # The administrator sees both inboxes and may merge across them.
    ok = await desk.data(desk.admin, MERGE, {"k": three["id"], "m": hidden})
    assert ok["conversationMerge"]["errors"] == []
    # Merged into a conversation of an inbox the agent does not work: the agent is not shown it.
    hidden2 = (
        await desk.data(
            desk.admin,
            f"""mutation($i: ID!, $c: ID!) {{ conversationCreate(input: {{inboxId: $i, contactId: $c, message: "y"}})
              {{ conversation {{ id }} {ERR} }} }}""",
            {"i": inbox2, "c": desk.contact_id},
        )
    )["conversationCreate"]["conversation"]["id"]
    assert (await desk.data(desk.admin, MERGE, {"k": hidden2, "m": one["id"]}))["conversationMerge"]["errors"] == []
    assert (await desk.data(desk.admin, READ, {"id": one["id"]}))["conversation"]["mergedInto"]["id"] == hidden2
    seen_by_agent = (await desk.data(desk.agent, READ, {"id": one["id"]}))["conversation"]
    assert seen_by_agent["status"] == "RESOLVED" and seen_by_agent["mergedInto"] is None

    # Another account's conversations: NOT_FOUND, whichever side they are on.
    other = await signup(gql, account="Elsewhere")
    body = await desk.run(other, MERGE, {"k": three["id"], "m": olga["id"]})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    body = await gql.execute(MERGE, {"k": three["id"], "m": three["id"]}, headers=other.headers())
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
