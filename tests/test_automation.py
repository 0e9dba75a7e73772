"""Automation rules and macros end to end: administrators save rules over GraphQL (checked: attributes,
operators, references of the account, cycles), the in-process worker runs them after commit exactly
once per event and never on what a rule itself did; macros run as the agent on conversations they see."""

from __future__ import annotations

import pytest
from standardwebhooks import Webhook as StandardWebhook

from tests.support.accounts import signup
from tests.support.desk import ERR, Desk, build_desk
from tests.test_query_counts import count_statements
from tests.test_webhooks import create_webhook, hook_settings, receiver, wait_until  # noqa: F401

RULE = "automationRule { id name eventName active conditions { attributeKey filterOperator values } actions { actionName params } }"
CREATE = f"mutation($in: AutomationRuleCreateInput!) {{ automationRuleCreate(input: $in) {{ {RULE} {ERR} }} }}"
UPDATE = f"mutation($id: ID!, $in: AutomationRuleUpdateInput!) {{ automationRuleUpdate(id: $id, input: $in) {{ {RULE} {ERR} }} }}"
DELETE = f"mutation($id: ID!) {{ automationRuleDelete(id: $id) {{ automationRule {{ id }} {ERR} }} }}"
RULES = "{ automationRules { id name actions { actionName params } } }"
RUNS = """query($r: ID) { automationRuns(ruleId: $r, first: 100) { edges { node {
  id ruleId eventId conversationId outcome actionsDone error } } } }"""
MACRO_CREATE = (
    f"mutation($in: MacroCreateInput!) {{ macroCreate(input: $in) {{ macro {{ id name accountWide }} {ERR} }} }}"
)
MACRO_EXECUTE = f"""mutation($id: ID!, $c: [ID!]!) {{ macroExecute(id: $id, conversationIds: $c) {{
  conversationIds actionsDone {ERR} }} }}"""
MACROS = "{ macros { id name accountWide actions { actionName params } } }"
CONV = """query($id: ID!) { conversation(id: $id) { status priority assignee { id } team { id } labels { title }
  messages(first: 50) { nodes { content messageType private } } } }"""


def cond(key: str, op: str, *values: str, q: str | None = None) -> dict:
    return {"attributeKey": key, "filterOperator": op, "values": list(values), "queryOperator": q}


def act(name: str, *params: str) -> dict:
    return {"actionName": name, "params": list(params)}


@pytest.fixture
async def desk(gql, smtp) -> Desk:
    desk = await build_desk(gql, smtp)
    for title in ("vip", "refund", "triage"):
        body = await desk.data(
            desk.admin, f'mutation {{ labelCreate(input: {{title: "{title}"}}) {{ label {{ id }} {ERR} }} }}'
        )
        assert body["labelCreate"]["errors"] == []
    return desk


async def rule(desk: Desk, **fields) -> dict:
    body = await desk.data(desk.admin, CREATE, {"in": {"name": "Rule", "eventName": "MESSAGE_CREATED", **fields}})
    return body["automationRuleCreate"]


async def runs(desk: Desk, rule_id: str | None = None) -> list[dict]:
    body = await desk.data(desk.admin, RUNS, {"r": rule_id})
    return [e["node"] for e in body["automationRuns"]["edges"]][::-1]


async def conversation(desk: Desk, cid: str) -> dict:
    return (await desk.data(desk.admin, CONV, {"id": cid}))["conversation"]


async def test_a_label_rule_fires_once_per_message_and_never_loops(desk: Desk):
    created = await rule(
        desk,
        name="Refunds",
        conditions=[cond("message_type", "equal_to", "incoming"), cond("content", "contains", "refund")],
        actions=[
            act("add_label", "refund"),
            act("send_message", "We are on it."),
            act("add_private_note", "Check the refund"),
        ],
    )
    assert created["errors"] == [], created
    rule_id = created["automationRule"]["id"]
    conv = await desk.new_conversation("I want a refund please")
    await desk.incoming(conv["id"], "Refund again, please")
    await desk.incoming(conv["id"], "Just saying hello")

    done = await wait_until(lambda: _outcomes(desk, rule_id, 3))
    assert sorted(r["outcome"] for r in done) == ["DONE", "DONE", "NOT_MATCHED"]
    for r in done:
        if r["outcome"] == "DONE":
            assert r["actionsDone"] == ["add_label", "send_message", "add_private_note"]
            assert r["conversationId"] == conv["id"]
    row = await conversation(desk, conv["id"])
    assert [label["title"] for label in row["labels"]] == ["refund"]
    replies = [m for m in row["messages"]["nodes"] if m["content"] == "We are on it."]
    notes = [m for m in row["messages"]["nodes"] if m["content"] == "Check the refund"]
    assert len(replies) == 2 and replies[0]["messageType"] == "OUTGOING" and not replies[0]["private"]
    assert len(notes) == 2 and notes[0]["private"] is True
    # What the rule sent (outgoing messages, label changes) triggers no rule: still three runs.
    await desk.incoming(conv["id"], "no match here")
    await wait_until(lambda: _outcomes(desk, rule_id, 4))
    assert len(await runs(desk, rule_id)) == 4


async def _outcomes(desk: Desk, rule_id: str, count: int) -> list[dict] | None:
    found = await runs(desk, rule_id)
    return found if len(found) >= count else None


async def test_conversation_actions_show_in_the_api_and_the_webhook(desk: Desk, receiver):
    webhook, secret = await create_webhook(desk, receiver.url, ["CONTACT_CREATED"])
    team = await desk.data(
        desk.admin, f'mutation {{ teamCreate(input: {{name: "Billing"}}) {{ team {{ id }} {ERR} }} }}'
    )
    team_id = team["teamCreate"]["team"]["id"]
    created = await rule(
        desk,
        name="Triage",
        eventName="CONVERSATION_CREATED",
        actions=[
            act("assign_agent", desk.user_ids["agent"]),
            act("assign_team", team_id),
            act("change_priority", "urgent"),
            act("add_label", "triage"),
            act("change_status", "pending"),
            act("send_webhook_event", webhook["id"]),
        ],
    )
    assert created["errors"] == [], created
    conv = await desk.new_conversation("Hello")
    await wait_until(lambda: _outcomes(desk, created["automationRule"]["id"], 1))
    row = await conversation(desk, conv["id"])
    assert row["assignee"]["id"] == desk.user_ids["agent"] and row["team"]["id"] == team_id
    assert row["priority"] == "URGENT" and row["status"] == "PENDING"
    assert [label["title"] for label in row["labels"]] == ["triage"]
    assert any("by Automation" in (m["content"] or "") for m in row["messages"]["nodes"])

    request = await wait_until(lambda: next((r for r in receiver.requests if b"automation_event" in r.body), None))
    body = StandardWebhook(secret).verify(request.body, request.headers)
    assert body["event"] == "automation_event.conversation_created"
    assert body["conversation"]["id"] == conv["id"] and body["conversation"]["priority"] == "URGENT"
    assert body["automationRule"]["name"] == "Triage"


async def test_conditions_chain_and_or_with_a_custom_attribute(desk: Desk, gql):
    definition = await desk.data(
        desk.admin,
        "mutation($in: CustomAttributeDefinitionCreateInput!) { customAttributeDefinitionCreate(input: $in) "
        f"{{ customAttributeDefinition {{ id }} {ERR} }} }}",
        {"in": {"model": "CONTACT", "key": "tier", "displayName": "Tier", "displayType": "TEXT"}},
    )
    assert definition["customAttributeDefinitionCreate"]["errors"] == []
    gold = await desk.data(
        desk.admin,
        f'mutation {{ contactCreate(input: {{name: "Gold", customAttributes: {{tier: "gold"}}}}) {{ contact {{ id }} {ERR} }} }}',
    )
    gold_id = gold["contactCreate"]["contact"]["id"]
    created = await rule(
        desk,
        name="Gold or urgent words",
        # tier = gold AND incoming, OR content contains "urgent": ((a AND b) OR c)
        conditions=[
            cond("contact.tier", "equal_to", "gold", q="and"),
            cond("message_type", "equal_to", "incoming", q="or"),
            cond("content", "contains", "urgent"),
        ],
        actions=[act("add_label", "vip")],
    )
    assert created["errors"] == [], created
    rule_id = created["automationRule"]["id"]
    gold_conv = await desk.new_conversation("hi", contact_id=gold_id)
    plain = await desk.new_conversation("hi")
    urgent = await desk.new_conversation("this is URGENT")
    found = await wait_until(lambda: _outcomes(desk, rule_id, 3))
    by_conv = {r["conversationId"]: r["outcome"] for r in found}
    assert by_conv == {gold_conv["id"]: "DONE", plain["id"]: "NOT_MATCHED", urgent["id"]: "DONE"}
    assert [x["title"] for x in (await conversation(desk, gold_conv["id"]))["labels"]] == ["vip"]
    assert (await conversation(desk, plain["id"]))["labels"] == []


async def test_bad_rules_are_refused_with_typed_errors_and_nothing_changes(desk: Desk, gql, smtp):
    other = await signup(gql, account="Elsewhere")
    their_team = await gql.data(
        f'mutation {{ teamCreate(input: {{name: "Theirs"}}) {{ team {{ id }} {ERR} }} }}', headers=other.headers()
    )
    their_team_id = their_team["teamCreate"]["team"]["id"]
    cases = [
        (
            {"conditions": [cond("shoe_size", "equal_to", "9")], "actions": [act("add_label", "vip")]},
            "conditions.0.attributeKey",
            "UNKNOWN_ATTRIBUTE",
        ),
        (
            {"conditions": [cond("status", "contains", "open")], "actions": [act("add_label", "vip")]},
            "conditions.0.filterOperator",
            "INVALID_OPERATOR",
        ),
        (
            {"conditions": [cond("display_id", "days_before", "3")], "actions": [act("add_label", "vip")]},
            "conditions.0.filterOperator",
            "INVALID_OPERATOR",
        ),
        ({"actions": [act("assign_team", their_team_id)]}, "actions.0.params", "NOT_FOUND"),
        ({"actions": [act("add_label", "not-a-label")]}, "actions.0.params", "UNKNOWN_LABEL"),
        ({"actions": [act("launch_rocket")]}, "actions.0.actionName", "UNKNOWN_ACTION"),
        ({"actions": []}, "actions", "REQUIRED"),
        # a message rule that sends a message feeds itself
        ({"actions": [act("send_message", "echo")]}, "actions", "CYCLE"),
        # message_type belongs to message events only
        (
            {
                "eventName": "CONVERSATION_CREATED",
                "conditions": [cond("message_type", "equal_to", "incoming")],
                "actions": [act("add_label", "vip")],
            },
            "conditions.0.attributeKey",
            "UNKNOWN_ATTRIBUTE",
        ),
    ]
    for fields, field, code in cases:
        refused = await rule(desk, **fields)
        assert refused["automationRule"] is None
        assert [(e["field"], e["code"]) for e in refused["errors"]] == [(field, code)], (fields, refused)
    # A cycle across two rules: A (updated → note: message_created), B (message_created → label: updated).
    first = await rule(desk, name="A", eventName="CONVERSATION_UPDATED", actions=[act("add_private_note", "changed")])
    assert first["errors"] == []
    second = await rule(desk, name="B", actions=[act("add_label", "vip")])
    assert [e["code"] for e in second["errors"]] == ["CYCLE"]
    assert "A" in second["errors"][0]["message"] and "B" in second["errors"][0]["message"]
    # inactive, it is no cycle; turning it on is refused
    off = await rule(desk, name="B", actions=[act("add_label", "vip")], active=False)
    assert off["errors"] == []
    on = await desk.data(desk.admin, UPDATE, {"id": off["automationRule"]["id"], "in": {"active": True}})
    assert [e["code"] for e in on["automationRuleUpdate"]["errors"]] == ["CYCLE"]
    assert [r["name"] for r in (await desk.data(desk.admin, RULES))["automationRules"]] == ["A", "B"]
    # agents cannot manage rules
    body = await desk.run(desk.agent, CREATE, {"in": {"name": "x", "eventName": "MESSAGE_CREATED", "actions": []}})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_macros_personal_and_shared_on_one_and_many_conversations(desk: Desk):
    mine = await desk.data(
        desk.agent,
        MACRO_CREATE,
        {"in": {"name": "Close as refund", "actions": [act("add_label", "refund"), act("change_status", "resolved")]}},
    )
    assert mine["macroCreate"]["errors"] == [] and mine["macroCreate"]["macro"]["accountWide"] is False
    refused = await desk.run(
        desk.agent, MACRO_CREATE, {"in": {"name": "All", "accountWide": True, "actions": [act("resolve_conversation")]}}
    )
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    shared = await desk.data(
        desk.admin,
        MACRO_CREATE,
        {"in": {"name": "Urgent", "accountWide": True, "actions": [act("change_priority", "urgent")]}},
    )
    assert shared["macroCreate"]["errors"] == []
    bad = await desk.data(
        desk.agent, MACRO_CREATE, {"in": {"name": "Bad", "actions": [act("change_priority", "sky-high")]}}
    )
    assert [(e["field"], e["code"]) for e in bad["macroCreate"]["errors"]] == [("actions.0.params", "INVALID_VALUE")]

    assert [m["name"] for m in (await desk.data(desk.agent, MACROS))["macros"]] == ["Urgent", "Close as refund"]
    assert [m["name"] for m in (await desk.data(desk.outsider, MACROS))["macros"]] == ["Urgent"]
    assert [m["name"] for m in (await desk.data(desk.admin, MACROS))["macros"]] == ["Urgent"]
    # another member's personal macro is not found, even by an administrator
    one = await desk.new_conversation("one")
    body = await desk.run(desk.admin, MACRO_EXECUTE, {"id": mine["macroCreate"]["macro"]["id"], "c": [one["id"]]})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    ran = await desk.data(desk.agent, MACRO_EXECUTE, {"id": mine["macroCreate"]["macro"]["id"], "c": [one["id"]]})
    assert ran["macroExecute"]["errors"] == [] and ran["macroExecute"]["actionsDone"] == ["add_label", "change_status"]
    row = await conversation(desk, one["id"])
    assert row["status"] == "RESOLVED" and [x["title"] for x in row["labels"]] == ["refund"]

    many = [(await desk.new_conversation(f"n{n}"))["id"] for n in range(3)]
    ran = await desk.data(desk.agent, MACRO_EXECUTE, {"id": shared["macroCreate"]["macro"]["id"], "c": many})
    assert ran["macroExecute"]["errors"] == []
    assert [(await conversation(desk, c))["priority"] for c in many] == ["URGENT"] * 3
    # the outsider sees none of the inbox's conversations: refused, nothing changed
    fresh = (await desk.new_conversation("fresh"))["id"]
    body = await desk.data(desk.outsider, MACRO_EXECUTE, {"id": shared["macroCreate"]["macro"]["id"], "c": [fresh]})
    assert [(e["field"], e["code"]) for e in body["macroExecute"]["errors"]] == [("conversationIds", "NOT_FOUND")]
    assert (await conversation(desk, fresh))["priority"] is None


async def test_rules_runs_and_macros_stay_in_their_account(desk: Desk, gql, smtp):
    created = await rule(desk, name="Mine", actions=[act("add_label", "vip")])
    assert created["errors"] == []
    other = await build_desk(gql, smtp)
    theirs = await other.data(other.admin, RULES)
    assert theirs["automationRules"] == []
    for doc, variables in (
        (UPDATE, {"id": created["automationRule"]["id"], "in": {"name": "Pwned"}}),
        (DELETE, {"id": created["automationRule"]["id"]}),
        (RUNS, {"r": created["automationRule"]["id"]}),
    ):
        body = await other.run(other.admin, doc, variables)
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", body
    # their conversation does not run our rule, and our macro cannot touch theirs
    conv = await other.new_conversation("hello")
    macro = await desk.data(
        desk.admin, MACRO_CREATE, {"in": {"name": "M", "accountWide": True, "actions": [act("resolve_conversation")]}}
    )
    body = await desk.data(desk.admin, MACRO_EXECUTE, {"id": macro["macroCreate"]["macro"]["id"], "c": [conv["id"]]})
    assert [e["code"] for e in body["macroExecute"]["errors"]] == ["NOT_FOUND"]
    assert (await other.data(other.admin, "{ macros { id } }"))["macros"] == []
    assert (await conversation(other, conv["id"]))["labels"] == []
    assert (await desk.data(desk.admin, RULES))["automationRules"][0]["name"] == "Mine"


async def test_lists_read_in_a_fixed_number_of_statements(desk: Desk, server):
    for n in range(5):
        assert (await rule(desk, name=f"R{n}", actions=[act("add_label", "vip")]))["errors"] == []
        body = await desk.data(
            desk.admin, MACRO_CREATE, {"in": {"name": f"M{n}", "actions": [act("resolve_conversation")]}}
        )
        assert body["macroCreate"]["errors"] == []
    conv = await desk.new_conversation("hello")
    await desk.incoming(conv["id"], "again")
    await wait_until(lambda: _all_runs(desk, 10))
    engine = server.app.state.services.engine
    for document, table, count in (
        (RULES, "automation_rules", 5),
        (MACROS, "macros", 5),
        (RUNS, "automation_runs", 10),
    ):
        await desk.data(desk.admin, document)  # warm the caller's session caches
        with count_statements(engine) as statements:
            body = await desk.data(desk.admin, document)
        rows = body.get("automationRules") or body.get("macros") or body["automationRuns"]["edges"]
        assert len(rows) == count
        assert len([s for s in statements if table in s]) == 1, statements
        assert len(statements) <= 4, statements


async def _all_runs(desk: Desk, count: int) -> list[dict] | None:
    found = await runs(desk)
    return found if len(found) >= count else None


async def test_a_macro_emails_a_team_snoozes_and_mutes(desk: Desk, smtp):
    team = await desk.data(
        desk.admin, f'mutation {{ teamCreate(input: {{name: "Escalations"}}) {{ team {{ id }} {ERR} }} }}'
    )
    team_id = team["teamCreate"]["team"]["id"]
    members = await desk.data(
        desk.admin,
        f"mutation($t: ID!, $u: [ID!]!) {{ teamMembersSet(id: $t, input: {{userIds: $u}}) {{ team {{ id }} {ERR} }} }}",
        {"t": team_id, "u": [desk.user_ids["outsider"]]},
    )
    assert members["teamMembersSet"]["errors"] == []
    macro = await desk.data(
        desk.agent,
        MACRO_CREATE,
        {
            "in": {
                "name": "Escalate",
                "actions": [
                    act("send_email_to_team", "Please look at this one", team_id),
                    act("snooze_conversation", "2"),
                ],
            }
        },
    )
    assert macro["macroCreate"]["errors"] == [], macro
    conv = await desk.new_conversation("help")
    ran = await desk.data(desk.agent, MACRO_EXECUTE, {"id": macro["macroCreate"]["macro"]["id"], "c": [conv["id"]]})
    assert ran["macroExecute"]["errors"] == []
    outsider = desk.outsider.email
    mail = smtp.wait_for(outsider, subject_contains="Conversation #")
    assert "Please look at this one" in smtp.text_of(mail)
    assert (await conversation(desk, conv["id"]))["status"] == "SNOOZED"

    mute = await desk.data(desk.agent, MACRO_CREATE, {"in": {"name": "Mute", "actions": [act("mute_conversation")]}})
    ran = await desk.data(desk.agent, MACRO_EXECUTE, {"id": mute["macroCreate"]["macro"]["id"], "c": [conv["id"]]})
    assert ran["macroExecute"]["errors"] == []
    assert (await conversation(desk, conv["id"]))["status"] == "RESOLVED"
    contact = await desk.data(desk.admin, "query($id: ID!) { contact(id: $id) { blocked } }", {"id": desk.contact_id})
    assert contact["contact"]["blocked"] is True


async def test_the_per_conversation_guard_holds_back_a_flood(desk: Desk, server):
    from domain.automation import engine

    created = await rule(
        desk,
        name="Every message",
        conditions=[cond("message_type", "equal_to", "incoming")],
        actions=[act("add_label", "vip")],
    )
    assert created["errors"] == []
    rule_id = created["automationRule"]["id"]
    conv = await desk.new_conversation("1")
    for n in range(engine.GUARD_RUNS):
        await desk.incoming(conv["id"], f"more {n}")
    found = await wait_until(lambda: _outcomes(desk, rule_id, engine.GUARD_RUNS + 1), timeout=60)
    outcomes = [r["outcome"] for r in found]
    assert outcomes.count("DONE") == engine.GUARD_RUNS and outcomes.count("SKIPPED") == 1, outcomes
    skipped = next(r for r in found if r["outcome"] == "SKIPPED")
    assert "runs on this conversation" in skipped["error"] and skipped["actionsDone"] == []


async def test_two_jobs_at_the_guard_s_edge_on_one_conversation_run_one_rule_and_skip_the_other(desk: Desk, db_engine):
    """Runs on one conversation wait for each other (its row lock): with one run left under the
    guard, two jobs counting at the same moment would both have found room for it."""
    import asyncio
    from datetime import UTC, datetime

    from sqlalchemy import select, text

    from db.models import AutomationRun, Event
    from db.session import create_session_factory
    from domain.automation import engine
    from schema.core.ids import decode_id

    conv = await desk.new_conversation("1")
    await desk.incoming(conv["id"], "two")
    conversation_pk = decode_id(conv["id"], "Conversation")
    sessions = create_session_factory(db_engine)
    async with sessions() as s:  # the messages' events, relayed before any rule listened
        event_ids = list(
            await s.scalars(
                select(Event.id)
                .where(Event.conversation_id == conversation_pk, Event.type == "message.created")
                .order_by(Event.id)
            )
        )
    assert len(event_ids) == 2

    async def automation_idle() -> bool | None:  # the worker has run the messages' automation jobs
        async with db_engine.connect() as c:
            open_jobs = await c.scalar(
                text("SELECT count(*) FROM outbox_jobs WHERE actor_name = 'automation.run' AND completed_at IS NULL")
            )
        return True if open_jobs == 0 else None

    assert await wait_until(automation_idle)
    created = await rule(
        desk, name="Edge", conditions=[cond("message_type", "equal_to", "incoming")], actions=[act("add_label", "vip")]
    )
    rule_pk = decode_id(created["automationRule"]["id"], "AutomationRule")
    async with db_engine.begin() as c:
        account_pk = await c.scalar(text("SELECT account_id FROM conversations WHERE id = :c"), {"c": conversation_pk})
        for n in range(engine.GUARD_RUNS - 1):  # earlier runs of other events (ids of no event)
            await c.execute(
                text(
                    "INSERT INTO automation_runs (account_id, rule_id, event_id, conversation_id, outcome, actions_done,"
                    " created_at) VALUES (:a, :r, :e, :c, 'done', '[]', :t)"
                ),
                {"a": account_pk, "r": rule_pk, "e": -1 - n, "c": conversation_pk, "t": datetime.now(UTC)},
            )
    async with sessions() as first, sessions() as second:
        await engine.run(first, [event_ids[0]])  # counted and ran; not committed yet
        other = asyncio.ensure_future(engine.run(second, [event_ids[1]]))
        await asyncio.sleep(0.5)
        assert not other.done()  # waits for the first job's transaction
        await first.commit()
        await asyncio.wait_for(other, 10)
        await second.commit()
    async with sessions() as s:
        outcomes = list(
            await s.scalars(
                select(AutomationRun.outcome)
                .where(AutomationRun.event_id.in_(event_ids))
                .order_by(AutomationRun.event_id)
            )
        )
    assert outcomes == ["done", "skipped"], outcomes


async def test_a_failing_action_drops_what_its_rule_did(desk: Desk):
    # The outsider is an agent of the account but not of the inbox: assigning them fails at run time.
    created = await rule(
        desk,
        name="Half done",
        eventName="CONVERSATION_CREATED",
        actions=[act("add_label", "vip"), act("assign_agent", desk.user_ids["outsider"])],
    )
    assert created["errors"] == [], created
    other = await rule(desk, name="Other", eventName="CONVERSATION_CREATED", actions=[act("change_priority", "high")])
    assert other["errors"] == []
    conv = await desk.new_conversation("hello")
    found = await wait_until(lambda: _all_runs(desk, 2))
    by_rule = {r["ruleId"]: r for r in found}
    failed = by_rule[created["automationRule"]["id"]]
    assert failed["outcome"] == "FAILED" and failed["actionsDone"] == ["add_label"]
    assert "agent of this conversation's inbox" in failed["error"]
    assert by_rule[other["automationRule"]["id"]]["outcome"] == "DONE"
    row = await conversation(desk, conv["id"])
    assert row["labels"] == [] and row["assignee"] is None and row["priority"] == "HIGH"


async def test_resolved_and_opened_rules_fire_on_the_status_change(desk: Desk):
    resolved = await rule(
        desk, name="Bye", eventName="CONVERSATION_RESOLVED", actions=[act("add_private_note", "Closed")]
    )
    opened = await rule(desk, name="Back", eventName="CONVERSATION_OPENED", actions=[act("change_priority", "high")])
    assert resolved["errors"] == [] and opened["errors"] == []
    conv = await desk.new_conversation("hello")
    status = f"mutation($id: ID!, $s: ConversationStatus!) {{ conversationStatusUpdate(id: $id, input: {{status: $s}}) {{ {ERR} }} }}"
    body = await desk.data(desk.agent, status, {"id": conv["id"], "s": "RESOLVED"})
    assert body["conversationStatusUpdate"]["errors"] == []
    await wait_until(lambda: _outcomes(desk, resolved["automationRule"]["id"], 1))
    await desk.incoming(conv["id"], "one more thing")  # reopens the conversation
    await wait_until(lambda: _outcomes(desk, opened["automationRule"]["id"], 1))
    row = await conversation(desk, conv["id"])
    assert [m["content"] for m in row["messages"]["nodes"]].count("Closed") == 1
    assert row["status"] == "OPEN" and row["priority"] == "HIGH"
    assert [r["outcome"] for r in await runs(desk)] == ["DONE", "DONE"]


async def test_a_rule_applies_an_sla_policy_and_a_foreign_policy_is_refused(desk: Desk, gql, smtp):
    made = await desk.data(
        desk.admin,
        f"""mutation {{ slaPolicyCreate(input: {{name: "Gold", firstResponseSeconds: 3600}})
        {{ slaPolicy {{ id }} {ERR} }} }}""",
    )
    assert made["slaPolicyCreate"]["errors"] == [], made
    gold = made["slaPolicyCreate"]["slaPolicy"]["id"]
    created = await rule(desk, name="Gold SLA", eventName="CONVERSATION_CREATED", actions=[act("apply_sla", gold)])
    assert created["errors"] == [], created
    conv = await desk.new_conversation("Please help")

    async def applied():
        body = await desk.data(
            desk.admin, "query($id: ID!) { conversation(id: $id) { sla { status policy { id } } } }", {"id": conv["id"]}
        )
        return body["conversation"]["sla"]

    sla = await wait_until(applied)
    assert sla == {"status": "ACTIVE", "policy": {"id": gold}}

    other = await signup(gql, account="Elsewhere")
    theirs = await gql.execute(
        f"""mutation {{ slaPolicyCreate(input: {{name: "Theirs", firstResponseSeconds: 60}})
        {{ slaPolicy {{ id }} {ERR} }} }}""",
        headers=other.headers(),
    )
    foreign = theirs["data"]["slaPolicyCreate"]["slaPolicy"]["id"]
    refused = await rule(
        desk, name="Foreign SLA", eventName="CONVERSATION_CREATED", actions=[act("apply_sla", foreign)]
    )
    assert refused["automationRule"] is None
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("actions.0.params", "NOT_FOUND")]
