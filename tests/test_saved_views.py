"""Saved views (personal and account-wide, per role, checked on save, scoped to the account) and the
bulk action over every conversation a filter matches (visibility, the cap, one event each)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from schema.core.ids import decode_id
from tests.support.accounts import signup
from tests.support.desk import ERR, Desk, build_desk
from tests.test_query_counts import count_statements

VIEW = "savedView { id name kind accountWide tab conditions { attributeKey filterOperator values queryOperator } }"
CREATE = f"mutation($in: SavedViewCreateInput!) {{ savedViewCreate(input: $in) {{ {VIEW} {ERR} }} }}"
UPDATE = f"mutation($id: ID!, $in: SavedViewUpdateInput!) {{ savedViewUpdate(id: $id, input: $in) {{ {VIEW} {ERR} }} }}"
DELETE = f"mutation($id: ID!) {{ savedViewDelete(id: $id) {{ savedView {{ id }} {ERR} }} }}"
LIST = (
    "query($k: SavedViewKind!) { savedViews(kind: $k) { id name accountWide tab conditions { attributeKey values } } }"
)
BULK = f"""mutation($f: ConversationFilterInput!, $s: ConversationStatus, $l: [String!]) {{
  conversationsBulkUpdate(filter: $f, status: $s, labelsAdd: $l) {{ matched changed {ERR} }} }}"""


def cond(key: str, op: str, *values: str, q: str | None = None) -> dict:
    return {"attributeKey": key, "filterOperator": op, "values": list(values), "queryOperator": q}


@pytest.fixture
async def desk(gql, smtp) -> Desk:
    return await build_desk(gql, smtp)


async def create(desk: Desk, who, **fields) -> dict:
    body = await desk.data(who, CREATE, {"in": {"kind": "CONVERSATION", **fields}})
    return body["savedViewCreate"]


async def names(desk: Desk, who, kind: str = "CONVERSATION") -> list[str]:
    return [v["name"] for v in (await desk.data(who, LIST, {"k": kind}))["savedViews"]]


async def test_personal_and_account_wide_views_per_role(desk: Desk):
    mine = await create(desk, desk.agent, name="My open", tab="MINE", conditions=[cond("status", "equal_to", "open")])
    assert mine["errors"] == []
    assert mine["savedView"]["accountWide"] is False and mine["savedView"]["tab"] == "MINE"
    assert mine["savedView"]["conditions"] == [
        {"attributeKey": "status", "filterOperator": "equal_to", "values": ["open"], "queryOperator": None}
    ]
    # an agent cannot share a view with the account
    refused = await desk.run(desk.agent, CREATE, {"in": {"kind": "CONVERSATION", "name": "Team", "accountWide": True}})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    shared = await create(
        desk, desk.admin, name="Urgent", accountWide=True, conditions=[cond("priority", "equal_to", "urgent")]
    )
    assert shared["errors"] == [] and shared["savedView"]["accountWide"] is True
    contact_view = await create(
        desk, desk.outsider, name="Gmail", kind="CONTACT", conditions=[cond("email", "contains", "gmail")]
    )
    assert contact_view["errors"] == []

    assert await names(desk, desk.agent) == ["Urgent", "My open"]
    assert await names(desk, desk.outsider) == ["Urgent"]
    assert await names(desk, desk.outsider, "CONTACT") == ["Gmail"]
    assert await names(desk, desk.admin) == ["Urgent"]  # another member's personal views are theirs alone

    # names are unique per owner and list, in any case; another owner may reuse one
    taken = await create(desk, desk.agent, name="my OPEN")
    assert taken["errors"][0]["field"] == "name" and taken["errors"][0]["code"] == "TAKEN"
    assert (await create(desk, desk.outsider, name="My open"))["errors"] == []

    mine_id, shared_id = mine["savedView"]["id"], shared["savedView"]["id"]
    # the agent renames their own view, cannot change or delete the account's, nor another member's
    renamed = await desk.data(desk.agent, UPDATE, {"id": mine_id, "in": {"name": "Mine, open"}})
    assert renamed["savedViewUpdate"]["savedView"]["name"] == "Mine, open"
    for doc, variables in ((UPDATE, {"id": shared_id, "in": {"name": "Pwned"}}), (DELETE, {"id": shared_id})):
        body = await desk.run(desk.agent, doc, variables)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
    for doc, variables in ((UPDATE, {"id": mine_id, "in": {"name": "Pwned"}}), (DELETE, {"id": mine_id})):
        body = await desk.run(desk.outsider, doc, variables)
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", body
        body = await desk.run(desk.admin, doc, variables)  # administrators do not manage personal views
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", body
    assert await names(desk, desk.agent) == ["Urgent", "Mine, open"]

    # the administrator changes and deletes the account's view; the agent deletes their own
    changed = await desk.data(
        desk.admin,
        UPDATE,
        {"id": shared_id, "in": {"conditions": [cond("priority", "equal_to", "high")], "tab": "ALL"}},
    )
    assert changed["savedViewUpdate"]["savedView"]["conditions"][0]["values"] == ["high"]
    assert changed["savedViewUpdate"]["savedView"]["tab"] == "ALL"
    assert (await desk.data(desk.admin, DELETE, {"id": shared_id}))["savedViewDelete"]["errors"] == []
    assert (await desk.data(desk.agent, DELETE, {"id": mine_id}))["savedViewDelete"]["errors"] == []
    assert await names(desk, desk.agent) == []


async def test_an_invalid_payload_is_refused_with_its_field_and_nothing_is_stored(desk: Desk):
    bad = await create(
        desk,
        desk.agent,
        name="Bad",
        conditions=[
            cond("status", "equal_to", "open"),
            cond("status", "equal_to", "sleeping"),
            cond("nope", "equal_to", "x"),
            cond("created_at", "days_before", "soon", q="xor"),
            cond("assignee_id", "equal_to", "not-an-id"),
        ],
    )
    assert bad["savedView"] is None
    assert [(e["field"], e["code"]) for e in bad["errors"]] == [
        ("conditions.1.values", "INVALID_VALUE"),
        ("conditions.2.attributeKey", "UNKNOWN_ATTRIBUTE"),
        ("conditions.3.values", "INVALID_VALUE"),
        ("conditions.3.queryOperator", "INVALID_OPERATOR"),
        ("conditions.4.values", "INVALID_VALUE"),
    ]
    blank = await create(
        desk, desk.agent, name="  ", kind="CONTACT", tab="MINE", conditions=[cond("status", "equal_to", "open")]
    )
    assert {(e["field"], e["code"]) for e in blank["errors"]} == {
        ("name", "REQUIRED"),
        ("tab", "INVALID"),
        ("conditions.0.attributeKey", "UNKNOWN_ATTRIBUTE"),  # status is no contact attribute
    }
    too_many = await create(desk, desk.agent, name="Many", conditions=[cond("status", "is_present")] * 21)
    assert too_many["errors"][0]["field"] == "conditions" and too_many["errors"][0]["code"] == "TOO_MANY"
    assert await names(desk, desk.agent) == [] and await names(desk, desk.agent, "CONTACT") == []
    # an update with a bad filter changes nothing either
    good = await create(desk, desk.agent, name="Good", conditions=[cond("status", "equal_to", "open")])
    body = await desk.data(
        desk.agent,
        UPDATE,
        {"id": good["savedView"]["id"], "in": {"name": "Renamed", "conditions": [cond("priority", "contains", "x")]}},
    )
    assert body["savedViewUpdate"]["errors"][0]["field"] == "conditions.0.filterOperator"
    listed = (await desk.data(desk.agent, LIST, {"k": "CONVERSATION"}))["savedViews"]
    assert [(v["name"], v["conditions"][0]["values"]) for v in listed] == [("Good", ["open"])]


async def test_another_accounts_view_is_not_found(desk: Desk, gql):
    other = await signup(gql, account="Other")
    body = await gql.data(
        CREATE, {"in": {"kind": "CONVERSATION", "name": "Theirs", "accountWide": True}}, headers=other.headers()
    )
    foreign = body["savedViewCreate"]["savedView"]["id"]
    for doc, variables in ((UPDATE, {"id": foreign, "in": {"name": "Pwned"}}), (DELETE, {"id": foreign})):
        result = await desk.run(desk.admin, doc, variables)
        assert result["errors"][0]["extensions"]["code"] == "NOT_FOUND", result
    assert await names(desk, desk.admin) == []
    theirs = await gql.data(LIST, {"k": "CONVERSATION"}, headers=other.headers())
    assert [v["name"] for v in theirs["savedViews"]] == ["Theirs"]


async def test_saved_views_read_in_one_statement(desk: Desk, server):
    for n in range(5):
        assert (await create(desk, desk.agent, name=f"Mine {n}", conditions=[cond("status", "equal_to", "open")]))[
            "errors"
        ] == []
        assert (await create(desk, desk.admin, name=f"All {n}", accountWide=True))["errors"] == []
    await names(desk, desk.agent)  # warm the caller's session caches
    with count_statements(server.app.state.services.engine) as statements:
        assert len(await names(desk, desk.agent)) == 10
    assert len([s for s in statements if "saved_views" in s]) == 1, statements
    assert len(statements) <= 3, statements


async def _events(db_engine, type_: str) -> list[int]:
    async with db_engine.connect() as c:
        rows = await c.execute(
            text("SELECT conversation_id FROM events WHERE type = :t ORDER BY conversation_id"), {"t": type_}
        )
        return [r[0] for r in rows]


async def test_bulk_update_changes_exactly_the_matching_visible_conversations(desk: Desk, db_engine):
    label = await desk.data(
        desk.admin, f'mutation {{ labelCreate(input: {{title: "vip"}}) {{ label {{ id }} {ERR} }} }}'
    )
    assert label["labelCreate"]["errors"] == []
    a = await desk.new_conversation("first")
    b = await desk.new_conversation("second")
    c = await desk.new_conversation("third")
    urgent = f"mutation($id: ID!) {{ conversationPriorityUpdate(id: $id, priority: URGENT) {{ {ERR} }} }}"
    for conv in (a, b):
        assert (await desk.data(desk.agent, urgent, {"id": conv["id"]}))["conversationPriorityUpdate"]["errors"] == []
    f = {"conditions": [cond("priority", "equal_to", "urgent")], "tab": "ALL"}

    # an agent who does not work the inbox sees none of them, so changes none
    body = await desk.data(desk.outsider, BULK, {"f": f, "s": "RESOLVED"})
    assert body["conversationsBulkUpdate"] == {"matched": 0, "changed": 0, "errors": []}
    assert await _events(db_engine, "conversation.status_changed") == []

    body = await desk.data(desk.agent, BULK, {"f": f, "s": "RESOLVED", "l": ["vip"]})
    assert body["conversationsBulkUpdate"] == {"matched": 2, "changed": 2, "errors": []}
    expected = sorted(decode_id(x["id"], "Conversation") for x in (a, b))
    assert await _events(db_engine, "conversation.status_changed") == expected  # one each
    for conv, status in ((a, "RESOLVED"), (b, "RESOLVED"), (c, "OPEN")):
        got = (await desk.conversation(desk.agent, conv["id"]))["data"]["conversation"]
        assert got["status"] == status
        assert [lab["title"] for lab in got["labels"]] == (["vip"] if status == "RESOLVED" else [])

    # again: they match, nothing changes, no new events
    body = await desk.data(desk.agent, BULK, {"f": f, "s": "RESOLVED", "l": ["vip"]})
    assert body["conversationsBulkUpdate"] == {"matched": 2, "changed": 0, "errors": []}
    assert await _events(db_engine, "conversation.status_changed") == expected

    # bad input: typed errors, nothing written
    body = await desk.run(desk.agent, BULK, {"f": {"conditions": [cond("priority", "equal_to", "meh")]}, "s": "OPEN"})
    assert body["errors"][0]["extensions"]["field"] == "filter.conditions.0.values"
    body = await desk.data(desk.agent, BULK, {"f": {}, "s": "SNOOZED"})
    assert body["conversationsBulkUpdate"]["errors"][0]["field"] == "status"
    body = await desk.data(desk.agent, BULK, {"f": {}, "l": ["no-such-label"]})
    assert body["conversationsBulkUpdate"]["errors"][0]["code"] == "UNKNOWN_LABEL"
    body = await desk.data(desk.agent, BULK, {"f": {}})
    assert body["conversationsBulkUpdate"]["errors"][0]["code"] == "REQUIRED"
    got = (await desk.conversation(desk.agent, c["id"]))["data"]["conversation"]
    assert got["status"] == "OPEN" and got["labels"] == []


async def test_bulk_update_refuses_more_than_the_cap(desk: Desk, db_engine, monkeypatch):
    from domain.helpdesk import conversations

    for n in range(3):
        await desk.new_conversation(f"c{n}")
    # the cap is read at call time; the server runs in this process
    monkeypatch.setattr(conversations, "MAX_BULK_MATCHING", 2)
    body = await desk.data(desk.agent, BULK, {"f": {"tab": "ALL"}, "s": "RESOLVED"})
    payload = body["conversationsBulkUpdate"]
    assert payload["matched"] == 0 and payload["errors"][0]["field"] == "filter"
    assert payload["errors"][0]["code"] == "TOO_MANY"
    assert await _events(db_engine, "conversation.status_changed") == []
    monkeypatch.setattr(conversations, "MAX_BULK_MATCHING", 3)
    body = await desk.data(desk.agent, BULK, {"f": {"tab": "ALL"}, "s": "RESOLVED"})
    assert body["conversationsBulkUpdate"] == {"matched": 3, "changed": 3, "errors": []}
