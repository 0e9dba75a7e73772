"""SLA policies end to end over GraphQL with the worker running: warnings and misses recorded once
(also with two more schedulers racing), working hours respected, replies and resolving meeting the
targets, reopening restarting the resolution, the list filtered and sorted by SLA, the hit-rate
report, typed errors, other accounts kept out, and statement counts of the lists.

Time is driven as the scheduler tests drive it: targets of seconds and a sweep of half a second
(tests/conftest.py), never long sleeps."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from db.models import Event
from db.session import create_session_factory
from parley import fast_lane
from schema.core.ids import decode_id
from tests.support.accounts import signup
from tests.support.desk import ERR, Desk, build_desk
from tests.support.server import LiveServer
from tests.test_query_counts import count_statements, seed
from tests.test_realtime import ACCOUNT_EVENTS, events_until, socket_for
from tests.test_webhooks import create_webhook, hook_settings, receiver, wait_until  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("server")

POLICY = "id name description firstResponseSeconds nextResponseSeconds resolutionSeconds businessHoursOnly"
CREATE = f"""mutation($in: SlaPolicyCreateInput!) {{ slaPolicyCreate(input: $in) {{
  slaPolicy {{ {POLICY} }} {ERR} }} }}"""
UPDATE = f"""mutation($id: ID!, $in: SlaPolicyUpdateInput!) {{ slaPolicyUpdate(id: $id, input: $in) {{
  slaPolicy {{ {POLICY} }} {ERR} }} }}"""
DELETE = f"mutation($id: ID!) {{ slaPolicyDelete(id: $id) {{ slaPolicy {{ id }} {ERR} }} }}"
APPLY = f"""mutation($c: ID!, $p: ID!) {{ conversationSlaApply(id: $c, slaPolicyId: $p) {{
  conversation {{ id slaDueAt sla {{ status }} }} {ERR} }} }}"""
REMOVE = f"mutation($c: ID!) {{ conversationSlaRemove(id: $c) {{ conversation {{ id sla {{ status }} }} {ERR} }} }}"
SLA = """query($id: ID!) { conversation(id: $id) { id status createdAt slaDueAt sla { status dueAt appliedAt
  firstResponseDueAt nextResponseDueAt resolutionDueAt firstResponseMissed nextResponseMissed resolutionMissed
  policy { id name } } } }"""
REPLY = f"""mutation($c: ID!, $t: String!) {{ messageCreate(input: {{conversationId: $c, content: $t}}) {{
  message {{ id }} {ERR} }} }}"""
STATUS = f"""mutation($c: ID!, $s: ConversationStatus!) {{ conversationStatusUpdate(id: $c, input: {{status: $s}}) {{
  conversation {{ status }} {ERR} }} }}"""
NOTIFICATIONS = "{ notifications(first: 50) { edges { node { notificationType title conversation { id } } } } }"
LIST = """query($f: ConversationFilterInput, $s: ConversationSort, $first: Int, $after: String) {
  conversations(filter: $f, sort: $s, first: $first, after: $after) {
    edges { cursor node { id slaDueAt } } pageInfo { hasNextPage endCursor } } }"""
LIST_STOCK = """query($f: ConversationFilterInput, $s: ConversationSort, $first: Int) {
  conversations(filter: $f, sort: $s, first: $first) { edges { node { id sla { status policy { name } } } } } }"""
REPORT = """query($s: Date!, $u: Date!) { slaReport(input: {since: $s, until: $u}) {
  applied hit missed hitRate policy { id name } } }"""


@pytest.fixture
async def desk(gql, smtp) -> Desk:
    return await build_desk(gql, smtp)


async def policy(desk: Desk, **values) -> dict:
    body = await desk.data(desk.admin, CREATE, {"in": {"name": values.pop("name", "Gold"), **values}})
    assert body["slaPolicyCreate"]["errors"] == [], body
    return body["slaPolicyCreate"]["slaPolicy"]


async def apply(desk: Desk, conversation_id: str, policy_id: str) -> dict:
    body = await desk.data(desk.agent, APPLY, {"c": conversation_id, "p": policy_id})
    assert body["conversationSlaApply"]["errors"] == [], body
    return body["conversationSlaApply"]["conversation"]


async def sla_of(desk: Desk, conversation_id: str) -> dict:
    return (await desk.data(desk.admin, SLA, {"id": conversation_id}))["conversation"]


def at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def settle(desk: Desk, conversation_id: str, predicate, timeout: float = 15) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await sla_of(desk, conversation_id)
        if predicate(found) or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


async def reply(desk: Desk, conversation_id: str, text_: str = "On it") -> None:
    body = await desk.data(desk.agent, REPLY, {"c": conversation_id, "t": text_})
    assert body["messageCreate"]["errors"] == [], body


async def set_status(desk: Desk, conversation_id: str, status: str) -> None:
    body = await desk.data(desk.agent, STATUS, {"c": conversation_id, "s": status})
    assert body["conversationStatusUpdate"]["errors"] == [], body


async def count_events(db_engine, conversation_id: str, type_: str) -> int:
    sessions = create_session_factory(db_engine)
    async with sessions() as s:
        return int(
            await s.scalar(
                select(func.count()).where(
                    Event.conversation_id == decode_id(conversation_id, "Conversation"), Event.type == type_
                )
            )
            or 0
        )


@contextlib.asynccontextmanager
async def racing_schedulers(db_engine, n: int = 2):
    """`n` more schedulers running the SLA pass beside the server's, as other worker processes would."""
    from workers.scheduler import evaluate_slas

    sessions = create_session_factory(db_engine)
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            await evaluate_slas(sessions)
            await asyncio.sleep(0.02)

    tasks = [asyncio.create_task(loop()) for _ in range(n)]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


# --- the deadlines ------------------------------------------------------------------------------------


async def test_a_first_response_warns_then_misses_exactly_once(
    server: LiveServer,
    desk: Desk,
    db_engine,
    receiver,
):
    webhook, _ = await create_webhook(desk, receiver.url, ["SLA_WARNING", "SLA_MISSED"])
    gold = await policy(desk, firstResponseSeconds=6)
    conversation = await desk.new_conversation("Where is my parcel?")
    async with socket_for(server.ws_url, desk.admin) as sock, racing_schedulers(db_engine):
        await sock.subscribe(ACCOUNT_EVENTS)
        await asyncio.sleep(0.3)
        applied = await apply(desk, conversation["id"], gold["id"])
        assert applied["sla"] == {"status": "ACTIVE"}
        state = await sla_of(desk, conversation["id"])
        # The clock runs from the conversation's creation (Chatwoot's), not from applying the SLA.
        assert at(state["sla"]["firstResponseDueAt"]) == at(state["createdAt"]) + timedelta(seconds=6), state
        assert state["slaDueAt"] == state["sla"]["dueAt"] == state["sla"]["firstResponseDueAt"]
        seen = await events_until(sock, lambda e: e["type"] == "conversation.sla_missed", timeout=15)
    types = [e["type"] for e in seen if e["type"].startswith("conversation.sla")]
    assert types == ["conversation.sla_warning", "conversation.sla_missed"], seen
    assert seen[-1]["conversation"]["id"] == conversation["id"]
    state = await sla_of(desk, conversation["id"])
    assert state["sla"]["status"] == "ACTIVE_WITH_MISSES"
    assert state["sla"]["firstResponseMissed"] is True and state["sla"]["firstResponseDueAt"] is None
    assert state["slaDueAt"] is None
    # Three schedulers ran the pass: each deadline was recorded once.
    await asyncio.sleep(1.0)
    assert await count_events(db_engine, conversation["id"], "conversation.sla_warning") == 1
    assert await count_events(db_engine, conversation["id"], "conversation.sla_missed") == 1
    # Webhooks: one of each, with the target and the policy.
    received = await wait_until(lambda: len(receiver.requests) >= 2 and receiver.requests)
    await asyncio.sleep(0.5)
    # Deliveries are independent jobs: under load the second may reach the receiver first, as
    # with Chatwoot's webhooks (the README's webhook section says so). What they say of when
    # each happened does follow the order.
    bodies = sorted((r.json() for r in receiver.requests), key=lambda b: b["occurredAt"])
    assert [b["event"] for b in bodies] == ["sla_warning", "sla_missed"], bodies
    assert all(
        b["sla"] == {"target": "first_response", "slaPolicyId": gold["id"], "dueAt": b["sla"]["dueAt"]} for b in bodies
    )
    assert bodies[1]["conversation"]["id"] == conversation["id"] and received
    # Notifications: the administrator is told once of each (Chatwoot tells admins, assignee, participants).
    found = await wait_until(lambda: _sla_notifications(desk), timeout=10)
    assert sorted(found) == ["SLA_MISSED_FIRST_RESPONSE", "SLA_WARNING"], found
    # A late reply changes nothing of what was missed; resolving decides the SLA: missed.
    await reply(desk, conversation["id"])
    await set_status(desk, conversation["id"], "RESOLVED")
    state = await sla_of(desk, conversation["id"])
    assert state["sla"]["status"] == "MISSED" and state["sla"]["firstResponseMissed"] is True
    assert sorted(webhook["events"]) == ["SLA_MISSED", "SLA_WARNING"]


async def _sla_notifications(desk: Desk) -> list[str] | None:
    body = await desk.data(desk.admin, NOTIFICATIONS)
    kinds = [e["node"]["notificationType"] for e in body["notifications"]["edges"]]
    sla = [k for k in kinds if k.startswith("SLA")]
    return sla if len(sla) >= 2 else None


async def test_replies_and_resolving_meet_the_targets_and_reopening_restarts_resolution(desk: Desk):
    gold = await policy(desk, firstResponseSeconds=600, nextResponseSeconds=600, resolutionSeconds=3600)
    conversation = await desk.new_conversation()
    await apply(desk, conversation["id"], gold["id"])
    state = await sla_of(desk, conversation["id"])
    sla = state["sla"]
    assert sla["firstResponseDueAt"] and sla["resolutionDueAt"] and sla["nextResponseDueAt"] is None
    assert at(state["slaDueAt"]) == at(sla["firstResponseDueAt"])  # the nearer one
    # The agent's reply meets the first response.
    await reply(desk, conversation["id"])
    sla = (await sla_of(desk, conversation["id"]))["sla"]
    assert sla["firstResponseDueAt"] is None and sla["firstResponseMissed"] is False
    assert sla["status"] == "ACTIVE"
    # The contact writes again: the next response runs; a private note does not meet it, a reply does.
    await desk.incoming(conversation["id"], "And the invoice?")
    sla = (await sla_of(desk, conversation["id"]))["sla"]
    assert sla["nextResponseDueAt"] is not None
    body = await desk.data(
        desk.agent,
        f"""mutation($c: ID!) {{ messageCreate(input: {{conversationId: $c, content: "note", private: true}}) {{ {ERR} }} }}""",
        {"c": conversation["id"]},
    )
    assert body["messageCreate"]["errors"] == []
    assert (await sla_of(desk, conversation["id"]))["sla"]["nextResponseDueAt"] is not None
    await reply(desk, conversation["id"], "Attached")
    sla = (await sla_of(desk, conversation["id"]))["sla"]
    assert sla["nextResponseDueAt"] is None and sla["nextResponseMissed"] is False
    # Resolving meets the resolution: every target hit.
    first_resolution_due = at(sla["resolutionDueAt"])
    await set_status(desk, conversation["id"], "RESOLVED")
    state = await sla_of(desk, conversation["id"])
    assert state["sla"]["status"] == "HIT" and state["sla"]["resolutionDueAt"] is None and state["slaDueAt"] is None
    # The contact writes: the conversation reopens and the resolution starts again from now.
    before = datetime.now(UTC)
    await desk.incoming(conversation["id"], "It broke again")
    state = await sla_of(desk, conversation["id"])
    assert state["status"] == "OPEN" and state["sla"]["status"] == "ACTIVE"
    restarted = at(state["sla"]["resolutionDueAt"])
    assert restarted is not None and restarted > first_resolution_due
    assert abs((restarted - before).total_seconds() - 3600) < 30
    assert state["sla"]["nextResponseDueAt"] is not None  # the reopening message waits for an answer
    # Reopening by hand after resolving restarts it too.
    await set_status(desk, conversation["id"], "RESOLVED")
    await set_status(desk, conversation["id"], "OPEN")
    assert (await sla_of(desk, conversation["id"]))["sla"]["resolutionDueAt"] is not None
    # Removing the SLA clears it.
    body = await desk.data(desk.agent, REMOVE, {"c": conversation["id"]})
    assert body["conversationSlaRemove"] == {"conversation": {"id": conversation["id"], "sla": None}, "errors": []}
    assert (await sla_of(desk, conversation["id"]))["slaDueAt"] is None


def _hours_closed_today() -> tuple[list[dict], datetime]:
    """Working hours (UTC) closed all day today, 09:00–17:00 on the other days; and when the next
    working day opens."""
    today = datetime.now(UTC)
    closed = (today.weekday() + 1) % 7  # 0 = Sunday
    hours = [
        {"dayOfWeek": d, "closedAllDay": True}
        if d == closed
        else {"dayOfWeek": d, "closedAllDay": False, "openTime": "09:00", "closeTime": "17:00"}
        for d in range(7)
    ]
    tomorrow = (today + timedelta(days=1)).date()
    return hours, datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, tzinfo=UTC)


async def test_working_hours_hold_the_deadline_until_the_inbox_opens(desk: Desk, db_engine):
    hours, opens = _hours_closed_today()
    body = await desk.data(
        desk.admin,
        f"""mutation($i: ID!, $s: InboxSettingsInput!) {{ inboxUpdate(id: $i, input: {{settings: $s}}) {{
          inbox {{ id }} {ERR} }} }}""",
        {"i": desk.inbox_id, "s": {"workingHoursEnabled": True, "timezone": "UTC", "workingHours": hours}},
    )
    assert body["inboxUpdate"]["errors"] == [], body
    office = await policy(desk, name="Office hours", firstResponseSeconds=2, businessHoursOnly=True)
    around_the_clock = await policy(desk, name="Always", firstResponseSeconds=2)
    conversation = await desk.new_conversation("Written on a closed day")
    await apply(desk, conversation["id"], office["id"])
    state = await sla_of(desk, conversation["id"])
    # Created while the inbox is closed: the two seconds start when it opens.
    assert at(state["sla"]["firstResponseDueAt"]) == opens + timedelta(seconds=2), state
    await asyncio.sleep(3.0)  # six passes of the scheduler
    state = await sla_of(desk, conversation["id"])
    assert state["sla"]["status"] == "ACTIVE" and state["sla"]["firstResponseMissed"] is False
    assert await count_events(db_engine, conversation["id"], "conversation.sla_missed") == 0
    # The same target counted around the clock has long passed: it is missed at once.
    await apply(desk, conversation["id"], around_the_clock["id"])
    state = await settle(desk, conversation["id"], lambda s: s["sla"]["firstResponseMissed"])
    assert state["sla"]["firstResponseMissed"] is True and state["sla"]["policy"]["name"] == "Always"


# --- lists and reports --------------------------------------------------------------------------------


async def test_the_list_filters_and_sorts_by_sla(desk: Desk):
    gold = await policy(desk, name="Gold", firstResponseSeconds=5000)
    silver = await policy(desk, name="Silver", firstResponseSeconds=2500)
    c_gold = await desk.new_conversation("gold")
    c_silver = await desk.new_conversation("silver")
    c_none = await desk.new_conversation("none")
    await apply(desk, c_gold["id"], gold["id"])
    await apply(desk, c_silver["id"], silver["id"])
    expected = [c_silver["id"], c_gold["id"], c_none["id"]]
    # Sorted by the nearest deadline, those without one last, page by page through the cursor (the
    # compiled read path serves this document).
    ids, after = [], None
    served = fast_lane.stats["served"]
    for _ in range(3):
        page = (await desk.data(desk.agent, LIST, {"s": "SLA_DUE", "first": 1, "after": after}))["conversations"]
        ids += [e["node"]["id"] for e in page["edges"]]
        after = page["pageInfo"]["endCursor"]
    assert ids == expected
    assert fast_lane.stats["served"] - served >= 3, "the compiled read path did not answer"
    # Stock execution (the `sla` field is resolved field by field) gives the same order.
    stock = (await desk.data(desk.agent, LIST_STOCK, {"s": "SLA_DUE", "first": 10}))["conversations"]["edges"]
    assert [e["node"]["id"] for e in stock] == expected
    assert [e["node"]["sla"] for e in stock] == [
        {"status": "ACTIVE", "policy": {"name": "Silver"}},
        {"status": "ACTIVE", "policy": {"name": "Gold"}},
        None,
    ]
    # Filters: by status and by policy.
    active = (await desk.data(desk.agent, LIST, {"f": {"slaStatus": "ACTIVE"}, "s": "SLA_DUE"}))["conversations"]
    assert [e["node"]["id"] for e in active["edges"]] == expected[:2]
    only_gold = await desk.data(desk.agent, LIST, {"f": {"slaPolicyId": gold["id"]}})
    assert [e["node"]["id"] for e in only_gold["conversations"]["edges"]] == [c_gold["id"]]
    await set_status(desk, c_silver["id"], "RESOLVED")
    hit = await desk.data(desk.agent, LIST_STOCK, {"f": {"slaStatus": "HIT"}})
    assert [e["node"]["id"] for e in hit["conversations"]["edges"]] == [c_silver["id"]]


async def test_the_report_adds_up_hit_rates_per_policy(desk: Desk):
    fast = await policy(desk, name="Fast", firstResponseSeconds=1, resolutionSeconds=3600)
    await policy(desk, name="Unused", resolutionSeconds=60)
    hit, missed, running, late = [await desk.new_conversation(m) for m in ("hit", "missed", "running", "late")]
    # Replied before the SLA is applied: no first response runs, only the resolution.
    for c in (hit, running):
        await reply(desk, c["id"])
    for c in (hit, missed, running, late):
        await apply(desk, c["id"], fast["id"])
    for c in (missed, late):
        state = await settle(desk, c["id"], lambda s: s["sla"]["firstResponseMissed"])
        assert state["sla"]["status"] == "ACTIVE_WITH_MISSES", state
    await set_status(desk, hit["id"], "RESOLVED")
    await set_status(desk, missed["id"], "RESOLVED")
    statuses = [(await sla_of(desk, c["id"]))["sla"]["status"] for c in (hit, missed, running, late)]
    assert statuses == ["HIT", "MISSED", "ACTIVE", "ACTIVE_WITH_MISSES"]
    today = datetime.now(UTC).date()
    span = {"s": str(today - timedelta(days=1)), "u": str(today + timedelta(days=1))}
    rows = (await desk.data(desk.admin, REPORT, span))["slaReport"]
    assert [(r["policy"]["name"], r["applied"], r["hit"], r["missed"], r["hitRate"]) for r in rows] == [
        ("Fast", 4, 1, 2, pytest.approx(1 / 3)),
        ("Unused", 0, 0, 0, None),
    ]
    # A range before anything was applied counts nothing; a bad range is refused; agents may not read it.
    old = (await desk.data(desk.admin, REPORT, {"s": "2020-01-01", "u": "2020-01-31"}))["slaReport"]
    assert [r["applied"] for r in old] == [0, 0]
    bad = await desk.run(desk.admin, REPORT, {"s": str(today), "u": str(today - timedelta(days=1))})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    refused = await desk.run(desk.agent, REPORT, span)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# --- errors and other accounts ------------------------------------------------------------------------


def codes(payload: dict) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


async def test_bad_policies_are_typed_errors_and_change_nothing(desk: Desk):
    gold = await policy(desk, name="Gold", firstResponseSeconds=60)
    cases = [
        ({"name": "Neg", "firstResponseSeconds": -1}, [("firstResponseSeconds", "OUT_OF_RANGE")]),
        ({"name": "Zero", "resolutionSeconds": 0}, [("resolutionSeconds", "OUT_OF_RANGE")]),
        ({"name": "Huge", "nextResponseSeconds": 366 * 86400 + 1}, [("nextResponseSeconds", "OUT_OF_RANGE")]),
        ({"name": "Nothing"}, [(None, "NO_TARGET")]),
        ({"name": "  ", "firstResponseSeconds": 5}, [("name", "REQUIRED")]),
        ({"name": "gold", "firstResponseSeconds": 5}, [("name", "TAKEN")]),
        ({"name": "x" * 101, "firstResponseSeconds": 5}, [("name", "REQUIRED")]),
    ]
    for values, expected in cases:
        body = await desk.data(desk.admin, CREATE, {"in": values})
        payload = body["slaPolicyCreate"]
        assert payload["slaPolicy"] is None and codes(payload) == expected, (values, payload)
        assert all(e["message"] for e in payload["errors"])
    # Updates: the same rules; an explicit null stops a target, but not the last one.
    body = await desk.data(desk.admin, UPDATE, {"id": gold["id"], "in": {"firstResponseSeconds": 0}})
    assert codes(body["slaPolicyUpdate"]) == [("firstResponseSeconds", "OUT_OF_RANGE")]
    body = await desk.data(desk.admin, UPDATE, {"id": gold["id"], "in": {"firstResponseSeconds": None}})
    assert codes(body["slaPolicyUpdate"]) == [(None, "NO_TARGET")]
    body = await desk.data(
        desk.admin, UPDATE, {"id": gold["id"], "in": {"resolutionSeconds": 7200, "description": "Top customers"}}
    )
    assert body["slaPolicyUpdate"]["errors"] == []
    assert body["slaPolicyUpdate"]["slaPolicy"] == {
        **gold,
        "resolutionSeconds": 7200,
        "description": "Top customers",
    }
    # Agents read policies but may not change them.
    refused = await desk.run(desk.agent, CREATE, {"in": {"name": "Mine", "firstResponseSeconds": 5}})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    listed = (await desk.data(desk.agent, "{ slaPolicies { name resolutionSeconds } }"))["slaPolicies"]
    assert listed == [{"name": "Gold", "resolutionSeconds": 7200}]
    # Applying: a policy id that names nothing is a typed error; removing an SLA that is not there too.
    conversation = await desk.new_conversation()
    body = await desk.data(desk.agent, APPLY, {"c": conversation["id"], "p": "bogus"})
    assert body["conversationSlaApply"]["conversation"] is None
    assert codes(body["conversationSlaApply"]) == [("slaPolicyId", "NOT_FOUND")]
    body = await desk.data(desk.agent, REMOVE, {"c": conversation["id"]})
    assert codes(body["conversationSlaRemove"]) == [("id", "NO_SLA")]
    assert (await sla_of(desk, conversation["id"]))["sla"] is None
    # The outsider (not an agent of the inbox) cannot see the conversation, so cannot apply to it.
    hidden = await desk.run(desk.outsider, APPLY, {"c": conversation["id"], "p": gold["id"]})
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # Deleting a policy removes the SLAs it applied; the conversation stays.
    await apply(desk, conversation["id"], gold["id"])
    body = await desk.data(desk.admin, DELETE, {"id": gold["id"]})
    assert body["slaPolicyDelete"]["errors"] == []
    state = await sla_of(desk, conversation["id"])
    assert state["sla"] is None and state["slaDueAt"] is None
    assert (await desk.data(desk.admin, "{ slaPolicies { id } }"))["slaPolicies"] == []


async def test_another_accounts_policies_and_conversations_stay_out_of_reach(gql, desk: Desk):
    other = await signup(gql, account="Elsewhere")
    theirs = (await gql.data(CREATE, {"in": {"name": "Theirs", "firstResponseSeconds": 60}}, headers=other.headers()))[
        "slaPolicyCreate"
    ]["slaPolicy"]
    ours = await policy(desk, name="Ours", firstResponseSeconds=60)
    conversation = await desk.new_conversation()
    # Our conversation, their policy: a typed NOT_FOUND, nothing applied.
    body = await desk.data(desk.agent, APPLY, {"c": conversation["id"], "p": theirs["id"]})
    assert codes(body["conversationSlaApply"]) == [("slaPolicyId", "NOT_FOUND")]
    assert (await sla_of(desk, conversation["id"]))["sla"] is None
    # Their administrator cannot read, change, delete or apply ours, nor touch our conversation.
    for document, variables in (
        ("query($id: ID!) { slaPolicy(id: $id) { id } }", {"id": ours["id"]}),
        (UPDATE, {"id": ours["id"], "in": {"name": "Pwned"}}),
        (DELETE, {"id": ours["id"]}),
        (APPLY, {"c": conversation["id"], "p": theirs["id"]}),
        (REMOVE, {"c": conversation["id"]}),
    ):
        body = await gql.execute(document, variables, headers=other.headers())
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", (document, body)
    assert [
        p["name"] for p in (await gql.data("{ slaPolicies { name } }", headers=other.headers()))["slaPolicies"]
    ] == ["Theirs"]
    assert (await desk.data(desk.admin, "{ slaPolicies { name } }"))["slaPolicies"] == [{"name": "Ours"}]
    today = datetime.now(UTC).date()
    rows = (await gql.data(REPORT, {"s": str(today), "u": str(today)}, headers=other.headers()))["slaReport"]
    assert [r["policy"]["name"] for r in rows] == ["Theirs"]
    # Their filter by our policy finds nothing of ours.
    await apply(desk, conversation["id"], ours["id"])
    found = await gql.data(LIST, {"f": {"slaPolicyId": ours["id"]}}, headers=other.headers())
    assert found["conversations"]["edges"] == []


# --- statement counts ---------------------------------------------------------------------------------


async def test_lists_with_slas_do_not_grow_statements_with_the_page(gql, smtp, server, db_engine):
    desk = await build_desk(gql, smtp)
    await seed(db_engine, desk, 60)
    gold = await policy(desk, name="Gold", firstResponseSeconds=600)
    await policy(desk, name="Silver", resolutionSeconds=600)
    account_pk = decode_id((await desk.data(desk.admin, "{ account { id } }"))["account"]["id"], "Account")
    now = datetime.now(UTC)
    async with db_engine.begin() as c:
        await c.execute(
            text(
                "INSERT INTO applied_slas (account_id, sla_policy_id, conversation_id, status, first_response_due_at, "
                "first_response_missed, next_response_missed, resolution_missed, check_at, created_at, updated_at) "
                "SELECT account_id, :p, id, 'active', :d, false, false, false, :d, :t, :t FROM conversations "
                "WHERE account_id = :a"
            ),
            {"a": account_pk, "p": decode_id(gold["id"], "SlaPolicy"), "d": now + timedelta(hours=1), "t": now},
        )
        await c.execute(
            text("UPDATE conversations SET sla_policy_id = :p, sla_due_at = :d WHERE account_id = :a"),
            {"a": account_pk, "p": decode_id(gold["id"], "SlaPolicy"), "d": now + timedelta(hours=1)},
        )
    engine = server.app.state.services.engine
    document = """query($f: Int) { conversations(first: $f, sort: SLA_DUE, filter: {slaStatus: ACTIVE}) {
      edges { node { id slaDueAt sla { status dueAt firstResponseMissed policy { name } } } } } }"""
    await desk.data(desk.agent, document, {"f": 1})
    counts = {}
    for first in (10, 50):
        with count_statements(engine) as statements:
            body = await desk.data(desk.agent, document, {"f": first})
        assert len(body["conversations"]["edges"]) == first
        assert {e["node"]["sla"]["policy"]["name"] for e in body["conversations"]["edges"]} == {"Gold"}
        counts[first] = len(statements)
    assert counts[10] == counts[50], counts
    assert counts[10] <= 4, counts  # the list, the applied SLAs, their policies
    # The policy list and the report: one statement each, whatever the number of policies.
    today = datetime.now(UTC).date()
    with count_statements(engine) as statements:
        await desk.data(desk.admin, "{ slaPolicies { id name } }")
    assert len(statements) <= 2, statements
    with count_statements(engine) as statements:
        rows = (await desk.data(desk.admin, REPORT, {"s": str(today), "u": str(today)}))["slaReport"]
    assert [(r["policy"]["name"], r["applied"]) for r in rows] == [("Gold", 60), ("Silver", 0)]
    assert len(statements) <= 5, statements
