"""Chatwoot's filter conditions on the conversation list and its counts: operators per attribute kind,
custom attributes typed by their definitions, AND/OR read left to right, SQL metacharacters as plain
text, typed errors naming the condition, other accounts' attributes unknown, and the tabs."""

from __future__ import annotations

import pytest

from schema.core.ids import decode_id
from tests.support.accounts import signup
from tests.support.desk import ERR, Desk, build_desk

LIST = """query($f: ConversationFilterInput) { conversations(filter: $f, first: 100) { edges { node { id } } } }"""
COUNTS = """query($f: ConversationFilterInput) { conversationCounts(filter: $f) {
  open pending resolved snoozed mine unassigned all mentions participating unattended } }"""
DEF_CREATE = (
    "mutation($input: CustomAttributeDefinitionCreateInput!) { customAttributeDefinitionCreate(input: $input) "
    f"{{ customAttributeDefinition {{ id }} {ERR} }} }}"
)
SET_ATTRS = f"""mutation($id: ID!, $v: JSON!) {{ conversationCustomAttributesUpdate(id: $id, values: $v) {{
  conversation {{ id }} {ERR} }} }}"""
LABELS = f"""mutation($id: ID!, $add: [String!]!) {{ conversationLabelsUpdate(id: $id, input: {{add: $add, remove: []}}) {{
  conversation {{ id }} {ERR} }} }}"""
NOTE = f"""mutation($c: ID!, $t: String!) {{ messageCreate(input: {{conversationId: $c, content: $t, private: true}}) {{
  message {{ id }} {ERR} }} }}"""


def cond(key: str, op: str, *values: str, q: str | None = None) -> dict:
    return {"attributeKey": key, "filterOperator": op, "values": list(values), "queryOperator": q}


@pytest.fixture
async def desk(gql, smtp) -> Desk:
    return await build_desk(gql, smtp)


async def ids(desk: Desk, who, *conditions: dict, **fields) -> set[str]:
    body = await desk.data(who, LIST, {"f": {**fields, "conditions": list(conditions)}})
    return {e["node"]["id"] for e in body["conversations"]["edges"]}


async def define(desk: Desk, key: str, display_type: str, model: str = "CONVERSATION", **extra) -> None:
    body = await desk.data(
        desk.admin,
        DEF_CREATE,
        {"input": {"model": model, "key": key, "displayName": key, "displayType": display_type, **extra}},
    )
    assert body["customAttributeDefinitionCreate"]["errors"] == []


@pytest.fixture
async def world(desk: Desk) -> dict:
    for key, kind, extra in (
        ("plan", "TEXT", {}),
        ("seats", "NUMBER", {}),
        ("renewal", "DATE", {}),
        ("tier", "LIST", {"listValues": ["gold", "silver"]}),
        ("vip", "CHECKBOX", {}),
        ("site", "LINK", {}),
    ):
        await define(desk, key, kind, **extra)
    a = await desk.new_conversation("first")
    b = await desk.new_conversation("second")
    c = await desk.new_conversation("third")
    values = {
        a["id"]: {
            "plan": "100% pro_plan",
            "seats": 5,
            "renewal": "2026-01-10",
            "tier": "gold",
            "vip": True,
            "site": "https://a.example",
        },
        b["id"]: {
            "plan": "O'Brien \\ Zürich 日本",
            "seats": 50,
            "renewal": "2020-06-01",
            "tier": "silver",
            "vip": False,
        },
    }
    for cid, v in values.items():
        body = await desk.data(desk.admin, SET_ATTRS, {"id": cid, "v": v})
        assert body["conversationCustomAttributesUpdate"]["errors"] == [], body
    await desk.data(desk.admin, 'mutation { labelCreate(input: {title: "billing"}) { label { id } } }')
    assert (await desk.data(desk.admin, LABELS, {"id": a["id"], "add": ["billing"]}))["conversationLabelsUpdate"][
        "errors"
    ] == []
    return {"a": a["id"], "b": b["id"], "c": c["id"]}


async def test_text_operators_treat_sql_metacharacters_and_unicode_as_text(desk: Desk, world: dict):
    a, b, c = world["a"], world["b"], world["c"]
    assert await ids(desk, desk.admin, cond("plan", "contains", "%")) == {a}
    assert await ids(desk, desk.admin, cond("plan", "contains", "_")) == {a}
    assert await ids(desk, desk.admin, cond("plan", "contains", "0_ p")) == set()
    assert await ids(desk, desk.admin, cond("plan", "contains", "'")) == {b}
    assert await ids(desk, desk.admin, cond("plan", "contains", "\\")) == {b}
    assert await ids(desk, desk.admin, cond("plan", "contains", "zÜrich 日本")) == {b}
    assert await ids(desk, desk.admin, cond("plan", "starts_with", "100%")) == {a}
    assert await ids(desk, desk.admin, cond("plan", "starts_with", "%")) == set()
    assert await ids(desk, desk.admin, cond("plan", "equal_to", "100% PRO_PLAN")) == {a}
    assert await ids(desk, desk.admin, cond("plan", "not_equal_to", "100% pro_plan")) == {b, c}
    assert await ids(desk, desk.admin, cond("plan", "does_not_contain", "'")) == {a, c}
    assert await ids(desk, desk.admin, cond("plan", "is_present")) == {a, b}
    assert await ids(desk, desk.admin, cond("plan", "is_not_present")) == {c}
    assert await ids(desk, desk.admin, cond("site", "starts_with", "https://")) == {a}
    assert await ids(desk, desk.admin, cond("site", "is_not_present")) == {b, c}


async def test_number_date_list_and_checkbox_attributes(desk: Desk, world: dict):
    a, b, c = world["a"], world["b"], world["c"]
    assert await ids(desk, desk.admin, cond("seats", "is_greater_than", "10")) == {b}
    assert await ids(desk, desk.admin, cond("seats", "is_less_than", "10")) == {a}
    assert await ids(desk, desk.admin, cond("seats", "equal_to", "5", "50")) == {a, b}
    assert await ids(desk, desk.admin, cond("seats", "not_equal_to", "5")) == {b, c}
    assert await ids(desk, desk.admin, cond("seats", "is_not_present")) == {c}
    assert await ids(desk, desk.admin, cond("renewal", "is_greater_than", "2025-12-31")) == {a}
    assert await ids(desk, desk.admin, cond("renewal", "is_less_than", "2025-12-31")) == {b}
    assert await ids(desk, desk.admin, cond("renewal", "equal_to", "2020-06-01")) == {b}
    assert await ids(desk, desk.admin, cond("renewal", "days_before", "365")) == {b}
    assert await ids(desk, desk.admin, cond("tier", "equal_to", "gold")) == {a}
    assert await ids(desk, desk.admin, cond("tier", "not_equal_to", "gold")) == {b, c}
    assert await ids(desk, desk.admin, cond("vip", "equal_to", "true")) == {a}
    assert await ids(desk, desk.admin, cond("vip", "equal_to", "false")) == {b}
    assert await ids(desk, desk.admin, cond("vip", "not_equal_to", "true")) == {b, c}


async def test_standard_attributes_and_left_to_right_chaining(desk: Desk, world: dict):
    a, b, c = world["a"], world["b"], world["c"]
    every = {a, b, c}
    assert await ids(desk, desk.admin, cond("status", "equal_to", "open")) == every
    assert await ids(desk, desk.admin, cond("status", "not_equal_to", "open")) == set()
    assert await ids(desk, desk.admin, cond("labels", "equal_to", "billing")) == {a}
    assert await ids(desk, desk.admin, cond("labels", "not_equal_to", "billing")) == {b, c}
    assert await ids(desk, desk.admin, cond("labels", "is_not_present")) == {b, c}
    assert await ids(desk, desk.admin, cond("inbox_id", "equal_to", desk.inbox_id)) == every
    assert await ids(desk, desk.admin, cond("assignee_id", "is_not_present")) == every
    assert await ids(desk, desk.admin, cond("priority", "is_present")) == set()
    assert await ids(desk, desk.admin, cond("contact_email", "contains", "carla@")) == every
    assert await ids(desk, desk.admin, cond("contact_name", "starts_with", "carla")) == every
    assert await ids(desk, desk.admin, cond("created_at", "days_before", "1")) == set()
    assert await ids(desk, desk.admin, cond("created_at", "is_greater_than", "2000-01-01")) == every
    assert await ids(desk, desk.admin, cond("display_id", "is_greater_than", "0")) == every
    assert await ids(desk, desk.admin, cond("referer", "is_not_present")) == every
    # (tier = gold OR tier = silver) AND seats > 10: left to right, not AND-first
    chained = (
        cond("tier", "equal_to", "gold", q="or"),
        cond("tier", "equal_to", "silver", q="and"),
        cond("seats", "is_greater_than", "10"),
    )
    assert await ids(desk, desk.admin, *chained) == {b}
    # tier = gold AND seats > 10 OR vip = false  →  (gold AND >10) OR not vip
    chained = (
        cond("tier", "equal_to", "gold", q="and"),
        cond("seats", "is_greater_than", "10", q="or"),
        cond("vip", "equal_to", "false"),
    )
    assert await ids(desk, desk.admin, *chained) == {b}
    # the simple fields still apply, ANDed with the conditions
    assert await ids(desk, desk.admin, cond("tier", "is_present"), label="billing") == {a}
    counts = await desk.data(desk.admin, COUNTS, {"f": {"conditions": [cond("tier", "is_present")]}})
    assert counts["conversationCounts"]["open"] == 2 and counts["conversationCounts"]["all"] == 2


async def test_bad_conditions_are_typed_errors_naming_the_condition(desk: Desk, world: dict):
    cases = [
        (cond("nope", "equal_to", "x"), "filter.conditions.1.attributeKey", "UNKNOWN_ATTRIBUTE"),
        (cond("seats", "contains", "x"), "filter.conditions.1.filterOperator", "INVALID_OPERATOR"),
        (cond("seats", "wat", "x"), "filter.conditions.1.filterOperator", "INVALID_OPERATOR"),
        (cond("seats", "is_greater_than", "ten"), "filter.conditions.1.values", "INVALID_VALUE"),
        (cond("seats", "is_greater_than", "1", "2"), "filter.conditions.1.values", "INVALID_VALUE"),
        (cond("renewal", "is_less_than", "yesterday"), "filter.conditions.1.values", "INVALID_VALUE"),
        (cond("renewal", "days_before", "-1"), "filter.conditions.1.values", "INVALID_VALUE"),
        (cond("status", "equal_to", "closed'--"), "filter.conditions.1.values", "INVALID_VALUE"),
        (cond("tier", "equal_to", "bronze"), "filter.conditions.1.values", "INVALID_VALUE"),
        (cond("vip", "equal_to", "yes"), "filter.conditions.1.values", "INVALID_VALUE"),
        (cond("inbox_id", "equal_to", "not-an-id"), "filter.conditions.1.values", "INVALID_VALUE"),
        (cond("plan", "contains"), "filter.conditions.1.values", "REQUIRED"),
    ]
    for bad, field, code in cases:
        for query in (LIST, COUNTS):
            body = await desk.run(desk.admin, query, {"f": {"conditions": [cond("plan", "is_present", q="and"), bad]}})
            assert body.get("data") is None, bad
            error = body["errors"][0]
            assert error["extensions"]["code"] == "BAD_USER_INPUT", body
            assert error["extensions"]["field"] == field and error["extensions"]["reason"] == code, (bad, body)
    too_many = [cond("plan", "is_present")] * 21
    body = await desk.run(desk.admin, LIST, {"f": {"conditions": too_many}})
    assert body["errors"][0]["extensions"]["field"] == "filter.conditions"


async def test_another_accounts_attributes_and_records_match_nothing(desk: Desk, world: dict, gql):
    other = await signup(gql, account="Other")
    await gql.data(
        DEF_CREATE,
        {"input": {"model": "CONVERSATION", "key": "secret", "displayName": "S", "displayType": "TEXT"}},
        headers=other.headers(),
    )
    body = await desk.run(desk.admin, LIST, {"f": {"conditions": [cond("secret", "is_present")]}})
    assert body["errors"][0]["extensions"]["reason"] == "UNKNOWN_ATTRIBUTE"
    inbox = await gql.data(
        'mutation { inboxCreate(input: {name: "X", channelType: API}) { inbox { id } } }', headers=other.headers()
    )
    foreign = inbox["inboxCreate"]["inbox"]["id"]
    assert await ids(desk, desk.admin, cond("inbox_id", "equal_to", foreign)) == set()
    # the other account sees none of this account's conversations, whatever it filters on
    body = await gql.data(
        LIST, {"f": {"conditions": [cond("inbox_id", "equal_to", desk.inbox_id)]}}, headers=other.headers()
    )
    assert body["conversations"]["edges"] == []


async def test_tabs_per_role(desk: Desk, world: dict):
    a, b, c = world["a"], world["b"], world["c"]
    agent_id = desk.user_ids["agent"]
    assign = f"""mutation($id: ID!, $a: ID) {{ conversationAssign(id: $id, input: {{assigneeId: $a}}) {{ conversation {{ id }} {ERR} }} }}"""
    assert (await desk.data(desk.admin, assign, {"id": a, "a": agent_id}))["conversationAssign"]["errors"] == []
    note = await desk.data(
        desk.admin, NOTE, {"c": b, "t": f"please look @[Agent](mention://user/{decode_id(agent_id, 'User')}/Agent)"}
    )
    assert note["messageCreate"]["errors"] == []
    reply = f"""mutation($c: ID!) {{ messageCreate(input: {{conversationId: $c, content: "on it"}}) {{ message {{ id }} {ERR} }} }}"""
    assert (await desk.data(desk.agent, reply, {"c": c}))["messageCreate"]["errors"] == []
    tab = lambda who, name: ids(desk, who, tab=name)  # noqa: E731
    assert await tab(desk.agent, "MINE") == {a}
    assert await tab(desk.agent, "UNASSIGNED") == {b, c}
    assert await tab(desk.agent, "ALL") == {a, b, c}
    assert await tab(desk.agent, "PARTICIPATING") >= {a}
    assert await tab(desk.agent, "MENTIONS") == {b}
    assert await tab(desk.admin, "MENTIONS") == set()
    assert await tab(desk.admin, "MINE") == set()
    assert await tab(desk.agent, "UNATTENDED") == {a, b}
    # the outsider works no inbox: every tab is empty
    for name in ("MINE", "UNASSIGNED", "ALL", "MENTIONS", "PARTICIPATING", "UNATTENDED"):
        assert await tab(desk.outsider, name) == set(), name
    counts = (await desk.data(desk.agent, COUNTS, {"f": {"tab": "MINE"}}))["conversationCounts"]
    assert counts["mine"] == 1 and counts["unassigned"] == 2 and counts["all"] == 3 and counts["unattended"] == 2
    assert counts["mentions"] == 1
