"""Auto-assignment end to end: the worker assigns open, unassigned conversations of an inbox with it
on to online agents under capacity, round-robin or balanced, and waiting ones when capacity frees."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tests.support.accounts import add_agent, signup
from tests.support.desk import ERR, Desk, user_id
from tests.support.server import LiveServer
from tests.test_realtime import socket_for

pytestmark = pytest.mark.usefixtures("server")

INBOX_UPDATE = f"""mutation($i: ID!, $s: InboxSettingsInput!) {{
  inboxUpdate(id: $i, input: {{settings: $s}}) {{ inbox {{ autoAssignmentPolicy autoAssignmentLimit }} {ERR} }} }}"""
INBOX_UPDATE_GRACE = f"""mutation($i: ID!, $s: InboxSettingsInput!) {{
  inboxUpdate(id: $i, input: {{settings: $s}}) {{ inbox {{ reassignOfflineAfterSeconds }} {ERR} }} }}"""
CREATE = f"""mutation($i: ID!, $c: ID!) {{
  conversationCreate(input: {{inboxId: $i, contactId: $c}}) {{ conversation {{ id }} {ERR} }} }}"""
ASSIGNEE = "query($id: ID!) { conversation(id: $id) { assignee { id } messages { nodes { content } } } }"


@pytest.fixture
async def team(gql, smtp):
    admin = await signup(gql, account="Auto")
    agents = [await add_agent(gql, admin, smtp) for _ in range(4)]
    ids = [await user_id(gql, a) for a in agents]
    inbox = await gql.data(
        f"""mutation {{ inboxCreate(input: {{name: "API", channelType: API}}) {{ inbox {{ id }} {ERR} }} }}""",
        headers=admin.headers(),
    )
    inbox_id = inbox["inboxCreate"]["inbox"]["id"]
    body = await gql.data(
        f"""mutation($i: ID!, $u: [ID!]!) {{ inboxMembersSet(id: $i, userIds: $u) {{ inbox {{ id }} {ERR} }} }}""",
        {"i": inbox_id, "u": ids},
        headers=admin.headers(),
    )
    assert body["inboxMembersSet"]["errors"] == []
    contact = await gql.data(
        f"""mutation {{ contactCreate(input: {{name: "Carla"}}) {{ contact {{ id }} {ERR} }} }}""",
        headers=admin.headers(),
    )
    desk = Desk(gql, admin, agents[0], agents[3], inbox_id, contact["contactCreate"]["contact"]["id"])
    return desk, agents, ids


async def _create(desk: Desk, contact_id: str | None = None) -> str:
    body = await desk.data(desk.admin, CREATE, {"i": desk.inbox_id, "c": contact_id or desk.contact_id})
    assert body["conversationCreate"]["errors"] == [], body
    return body["conversationCreate"]["conversation"]["id"]


async def _assignees(desk: Desk, ids: list[str]) -> list[str | None]:
    out = []
    for cid in ids:
        row = (await desk.data(desk.admin, ASSIGNEE, {"id": cid}))["conversation"]
        out.append(row["assignee"]["id"] if row["assignee"] else None)
    return out


async def _settle(desk: Desk, ids: list[str], assigned: int, timeout: float = 15) -> list[str | None]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await _assignees(desk, ids)
        if sum(a is not None for a in found) >= assigned or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def _online(server: LiveServer, members):
    async with contextlib.AsyncExitStack() as stack:
        for m in members:
            await stack.enter_async_context(socket_for(server.ws_url, m))
        yield


async def test_capacity_round_robin_and_waiting(server: LiveServer, team):
    desk, agents, ids = team
    body = await desk.data(desk.admin, INBOX_UPDATE, {"i": desk.inbox_id, "s": {"autoAssignmentLimit": 2}})
    assert body["inboxUpdate"]["errors"] == []
    assert body["inboxUpdate"]["inbox"] == {"autoAssignmentPolicy": "ROUND_ROBIN", "autoAssignmentLimit": 2}
    online = agents[:3]  # the fourth stays offline
    async with _online(server, online):
        conversations = [await _create(desk) for _ in range(6)]
        found = await _settle(desk, conversations, 6)
        assert sorted(found) == sorted(ids[:3] * 2), found
        # Round-robin: each of the three gets one before anyone gets a second.
        assert sorted(found[:3]) == sorted(ids[:3]) and sorted(found[3:]) == sorted(ids[:3])
        seventh = await _create(desk)
        await asyncio.sleep(1.5)
        assert await _assignees(desk, [seventh]) == [None]
        row = (await desk.data(desk.admin, ASSIGNEE, {"id": conversations[0]}))["conversation"]
        assert any("by auto-assignment" in m["content"] for m in row["messages"]["nodes"]), row
        # Resolving one frees its agent's capacity: the waiting conversation goes to them.
        resolved = await desk.data(
            desk.admin,
            f"""mutation($c: ID!) {{ conversationStatusUpdate(id: $c, input: {{status: RESOLVED}}) {{ {ERR} }} }}""",
            {"c": conversations[0]},
        )
        assert resolved["conversationStatusUpdate"]["errors"] == [], resolved
        assert await _settle(desk, [seventh], 1) == [found[0]]
    assert ids[3] not in found


async def test_balanced_gives_to_the_least_loaded(server: LiveServer, team):
    desk, agents, ids = team
    body = await desk.data(desk.admin, INBOX_UPDATE, {"i": desk.inbox_id, "s": {"autoAssignmentPolicy": "BALANCED"}})
    assert body["inboxUpdate"]["inbox"]["autoAssignmentPolicy"] == "BALANCED"
    async with _online(server, agents[:1]):
        first = [await _create(desk) for _ in range(2)]
        assert await _settle(desk, first, 2) == [ids[0], ids[0]]
    async with _online(server, agents[:2]):
        nxt = await _create(desk)
        assert await _settle(desk, [nxt], 1) == [ids[1]]  # agent 1 holds none, agent 0 two


async def test_concurrent_creators_never_over_assign(server: LiveServer, team):
    desk, agents, ids = team
    await desk.data(desk.admin, INBOX_UPDATE, {"i": desk.inbox_id, "s": {"autoAssignmentLimit": 1}})
    contacts = []
    for n in range(6):
        body = await desk.data(
            desk.admin, f"""mutation {{ contactCreate(input: {{name: "C{n}"}}) {{ contact {{ id }} {ERR} }} }}"""
        )
        contacts.append(body["contactCreate"]["contact"]["id"])
    async with _online(server, agents[:2]):
        # Six creators at once (one contact each), two agents of capacity one: exactly two assigned.
        conversations = await asyncio.gather(*[_create(desk, c) for c in contacts])
        found = await _settle(desk, list(conversations), 2)
        await asyncio.sleep(1.0)
        found = await _assignees(desk, list(conversations))
    assigned = [a for a in found if a is not None]
    assert sorted(assigned) == sorted(ids[:2]), found


async def test_bad_settings_are_typed_errors(team):
    desk, _, _ = team
    body = await desk.data(desk.admin, INBOX_UPDATE, {"i": desk.inbox_id, "s": {"autoAssignmentLimit": -1}})
    assert body["inboxUpdate"]["inbox"] is None
    assert [(e["field"], e["code"]) for e in body["inboxUpdate"]["errors"]] == [("autoAssignmentLimit", "OUT_OF_RANGE")]
    body = await desk.data(desk.admin, INBOX_UPDATE, {"i": desk.inbox_id, "s": {"autoAssignmentLimit": 100_001}})
    assert [(e["field"], e["code"]) for e in body["inboxUpdate"]["errors"]] == [("autoAssignmentLimit", "OUT_OF_RANGE")]
    bad = await desk.run(desk.admin, INBOX_UPDATE, {"i": desk.inbox_id, "s": {"autoAssignmentPolicy": "FASTEST"}})
    assert bad.get("errors"), bad
    inboxes = (await desk.data(desk.admin, "{ inboxes { id autoAssignmentLimit } }"))["inboxes"]
    assert [i["autoAssignmentLimit"] for i in inboxes if i["id"] == desk.inbox_id] == [None]


async def test_foreign_inbox_settings_refused(gql, team):
    desk, _, _ = team
    other = await signup(gql, account="Elsewhere")
    body = await gql.execute(
        INBOX_UPDATE, {"i": desk.inbox_id, "s": {"autoAssignmentLimit": 5}}, headers=other.headers()
    )
    payload = (body.get("data") or {}).get("inboxUpdate")
    assert payload is None or payload["inbox"] is None, body
    inboxes = (await desk.data(desk.admin, "{ inboxes { id autoAssignmentLimit } }"))["inboxes"]
    assert [i["autoAssignmentLimit"] for i in inboxes if i["id"] == desk.inbox_id] == [None]


async def test_account_wide_limit_and_agent_coming_online(server: LiveServer, team):
    desk, agents, ids = team
    mine = await desk.data(agents[0], "{ me { memberships { id account { id } } } }")
    membership = next(m["id"] for m in mine["me"]["memberships"] if m["account"]["id"] == desk.admin.account_id)
    update = f"""mutation($m: ID!, $n: Int) {{ membershipUpdate(id: $m, input: {{maxOpenConversations: $n}}) {{
      membership {{ maxOpenConversations }} {ERR} }} }}"""
    bad = await desk.data(desk.admin, update, {"m": membership, "n": 100_001})
    assert [(e["field"], e["code"]) for e in bad["membershipUpdate"]["errors"]] == [
        ("maxOpenConversations", "OUT_OF_RANGE")
    ]
    ok = await desk.data(desk.admin, update, {"m": membership, "n": 1})
    assert ok["membershipUpdate"]["membership"] == {"maxOpenConversations": 1}
    # Nobody online: both wait.
    conversations = [await _create(desk) for _ in range(2)]
    await asyncio.sleep(1.0)
    assert await _assignees(desk, conversations) == [None, None]
    # The agent connects: the periodic pass gives them one, the account-wide limit keeps the other waiting.
    async with _online(server, agents[:1]):
        found = await _settle(desk, conversations, 1)
        await asyncio.sleep(1.0)
        found = await _assignees(desk, conversations)
    assert found == [ids[0], None]


async def test_an_offline_agents_conversations_go_to_the_agent_online(server: LiveServer, team):
    """Two agents: the one who goes offline keeps their conversations while the inbox says nothing;
    with `reassignOfflineAfterSeconds`, after the grace period they go back to the pool and to the
    agent online."""
    desk, agents, ids = team
    async with _online(server, agents[:1]):
        conversations = [await _create(desk) for _ in range(2)]
        assert await _settle(desk, conversations, 2) == [ids[0], ids[0]]
    async with _online(server, agents[1:2]):
        await asyncio.sleep(2.5)  # two sweeps: nothing moves while the inbox does not ask for it
        assert await _assignees(desk, conversations) == [ids[0], ids[0]]
        body = await desk.data(
            desk.admin, INBOX_UPDATE_GRACE, {"i": desk.inbox_id, "s": {"reassignOfflineAfterSeconds": 2}}
        )
        assert body["inboxUpdate"]["errors"] == [], body
        assert body["inboxUpdate"]["inbox"]["reassignOfflineAfterSeconds"] == 2
        deadline = asyncio.get_running_loop().time() + 20
        while asyncio.get_running_loop().time() < deadline:
            found = await _assignees(desk, conversations)
            if found == [ids[1], ids[1]]:
                break
            await asyncio.sleep(0.2)
    assert found == [ids[1], ids[1]], found
    row = (await desk.data(desk.admin, ASSIGNEE, {"id": conversations[0]}))["conversation"]
    contents = [m["content"] for m in row["messages"]["nodes"]]
    assert any("unassigned" in c for c in contents) and sum("by auto-assignment" in c for c in contents) == 2, contents


async def test_the_grace_period_is_checked(team):
    desk, _, _ = team
    for value in (0, -5, 86_401):
        body = await desk.data(
            desk.admin, INBOX_UPDATE_GRACE, {"i": desk.inbox_id, "s": {"reassignOfflineAfterSeconds": value}}
        )
        assert body["inboxUpdate"]["inbox"] is None
        assert [(e["field"], e["code"]) for e in body["inboxUpdate"]["errors"]] == [
            ("reassignOfflineAfterSeconds", "OUT_OF_RANGE")
        ], body
    on = await desk.data(
        desk.admin, INBOX_UPDATE_GRACE, {"i": desk.inbox_id, "s": {"reassignOfflineAfterSeconds": 300}}
    )
    assert on["inboxUpdate"]["inbox"]["reassignOfflineAfterSeconds"] == 300
    off = await desk.data(
        desk.admin, INBOX_UPDATE_GRACE, {"i": desk.inbox_id, "s": {"reassignOfflineAfterSeconds": None}}
    )
    assert off["inboxUpdate"]["inbox"]["reassignOfflineAfterSeconds"] is None
