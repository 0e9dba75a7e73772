"""Chatwoot's filter conditions on the contact list: every operator on standard and custom contact
attributes (typed by their definitions), labels through the contact's own link table, typed errors
naming the condition (`conditions.N.…`), another account's attributes and contacts out of reach."""

from __future__ import annotations

import pytest

from tests.support.accounts import signup
from tests.support.desk import ERR, Desk, build_desk
from tests.test_filters import define

LIST = """query($c: [FilterConditionInput!], $s: String, $l: String) {
  contacts(conditions: $c, search: $s, label: $l, first: 100) { edges { node { id } } } }"""
CREATE = f"""mutation($input: ContactCreateInput!) {{ contactCreate(input: $input) {{ contact {{ id }} {ERR} }} }}"""
UPDATE = f"""mutation($id: ID!, $input: ContactUpdateInput!) {{ contactUpdate(id: $id, input: $input) {{
  contact {{ id }} {ERR} }} }}"""
LABELS = (
    "mutation($id: ID!, $input: ConversationLabelsInput!) { contactLabelsUpdate(id: $id, input: $input) "
    f"{{ contact {{ id }} {ERR} }} }}"
)


def cond(key: str, op: str, *values: str, q: str | None = None) -> dict:
    return {"attributeKey": key, "filterOperator": op, "values": list(values), "queryOperator": q}


@pytest.fixture
async def desk(gql, smtp) -> Desk:
    return await build_desk(gql, smtp)


async def ids(desk: Desk, *conditions: dict, who=None, **fields) -> set[str]:
    body = await desk.data(who or desk.agent, LIST, {"c": list(conditions), **fields})
    return {e["node"]["id"] for e in body["contacts"]["edges"]}


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
        await define(desk, key, kind, model="CONTACT", **extra)
    people = {
        "a": {
            "name": "Ada 100% Lovelace",
            "email": "ada@example.test",
            "phoneNumber": "+15550001",
            "identifier": "ada_1",
            "additionalAttributes": {"city": "London", "company_name": "Engines", "country_code": "GB"},
            "customAttributes": {
                "plan": "pro_plan",
                "seats": 5,
                "renewal": "2026-01-10",
                "tier": "gold",
                "vip": True,
                "site": "https://a.example",
            },
        },
        "b": {
            "name": "O'Brien Zürich",
            "email": "obrien@example.test",
            "additionalAttributes": {"city": "Zürich"},
            "customAttributes": {"plan": "basic", "seats": 50, "renewal": "2020-06-01", "tier": "silver", "vip": False},
        },
    }
    out = {"carla": desk.contact_id}
    for name, values in people.items():
        body = await desk.data(desk.agent, CREATE, {"input": values})
        assert body["contactCreate"]["errors"] == [], body
        out[name] = body["contactCreate"]["contact"]["id"]
    blocked = await desk.data(desk.agent, UPDATE, {"id": out["b"], "input": {"blocked": True}})
    assert blocked["contactUpdate"]["errors"] == []
    await desk.data(desk.admin, 'mutation { labelCreate(input: {title: "vip"}) { label { id } } }')
    added = await desk.data(desk.agent, LABELS, {"id": out["a"], "input": {"add": ["vip"]}})
    assert added["contactLabelsUpdate"]["errors"] == []
    return out


async def test_standard_contact_attributes_every_operator(desk: Desk, world: dict):
    a, b, c = world["a"], world["b"], world["carla"]
    every = {a, b, c}
    assert await ids(desk) == every
    assert await ids(desk, cond("name", "contains", "100%")) == {a}
    assert await ids(desk, cond("name", "contains", "_")) == set()
    assert await ids(desk, cond("name", "starts_with", "o'brien")) == {b}
    assert await ids(desk, cond("name", "does_not_contain", "'")) == {a, c}
    assert await ids(desk, cond("email", "equal_to", "ADA@example.test")) == {a}
    assert await ids(desk, cond("email", "not_equal_to", "ada@example.test")) == {b, c}
    assert await ids(desk, cond("phone_number", "is_present")) == {a}
    assert await ids(desk, cond("phone_number", "is_not_present")) == {b, c}
    assert await ids(desk, cond("identifier", "starts_with", "ada_")) == {a}
    assert await ids(desk, cond("city", "equal_to", "zürich")) == {b}
    assert await ids(desk, cond("company_name", "contains", "engine")) == {a}
    assert await ids(desk, cond("country_code", "is_not_present")) == {b, c}
    assert await ids(desk, cond("created_at", "is_greater_than", "2000-01-01")) == every
    assert await ids(desk, cond("created_at", "is_less_than", "2000-01-01")) == set()
    assert await ids(desk, cond("created_at", "days_before", "1")) == set()
    assert await ids(desk, cond("blocked", "equal_to", "true")) == {b}
    assert await ids(desk, cond("blocked", "not_equal_to", "true")) == {a, c}
    assert await ids(desk, cond("labels", "equal_to", "VIP")) == {a}
    assert await ids(desk, cond("labels", "not_equal_to", "vip")) == {b, c}
    assert await ids(desk, cond("labels", "is_present")) == {a}
    assert await ids(desk, cond("labels", "is_not_present")) == {b, c}
    # left to right: (city = London OR blocked) AND name contains "zür"
    chained = (
        cond("city", "equal_to", "london", q="or"),
        cond("blocked", "equal_to", "true", q="and"),
        cond("name", "contains", "zür"),
    )
    assert await ids(desk, *chained) == {b}
    # ANDed with the simple arguments
    assert await ids(desk, cond("email", "is_present"), l="vip") == {a}
    assert await ids(desk, cond("email", "is_present"), s="obrien") == {b}


async def test_custom_contact_attributes_every_kind(desk: Desk, world: dict):
    a, b, c = world["a"], world["b"], world["carla"]
    assert await ids(desk, cond("plan", "equal_to", "PRO_PLAN")) == {a}
    assert await ids(desk, cond("plan", "not_equal_to", "pro_plan")) == {b, c}
    assert await ids(desk, cond("plan", "contains", "as")) == {b}
    assert await ids(desk, cond("plan", "does_not_contain", "as")) == {a, c}
    assert await ids(desk, cond("plan", "starts_with", "pro")) == {a}
    assert await ids(desk, cond("plan", "is_present")) == {a, b}
    assert await ids(desk, cond("plan", "is_not_present")) == {c}
    assert await ids(desk, cond("seats", "is_greater_than", "10")) == {b}
    assert await ids(desk, cond("seats", "is_less_than", "10")) == {a}
    assert await ids(desk, cond("seats", "equal_to", "5", "50")) == {a, b}
    assert await ids(desk, cond("seats", "not_equal_to", "5")) == {b, c}
    assert await ids(desk, cond("renewal", "is_greater_than", "2025-12-31")) == {a}
    assert await ids(desk, cond("renewal", "is_less_than", "2025-12-31")) == {b}
    assert await ids(desk, cond("renewal", "equal_to", "2020-06-01")) == {b}
    assert await ids(desk, cond("renewal", "days_before", "365")) == {b}
    assert await ids(desk, cond("tier", "equal_to", "gold")) == {a}
    assert await ids(desk, cond("tier", "not_equal_to", "gold")) == {b, c}
    assert await ids(desk, cond("vip", "equal_to", "true")) == {a}
    assert await ids(desk, cond("vip", "equal_to", "false")) == {b}
    assert await ids(desk, cond("site", "starts_with", "https://")) == {a}
    assert await ids(desk, cond("site", "is_not_present")) == {b, c}


async def test_bad_contact_conditions_are_typed_errors_with_paths(desk: Desk, world: dict):
    cases = [
        (cond("nope", "equal_to", "x"), "conditions.1.attributeKey", "UNKNOWN_ATTRIBUTE"),
        (cond("status", "equal_to", "open"), "conditions.1.attributeKey", "UNKNOWN_ATTRIBUTE"),
        (cond("seats", "contains", "x"), "conditions.1.filterOperator", "INVALID_OPERATOR"),
        (cond("blocked", "contains", "x"), "conditions.1.filterOperator", "INVALID_OPERATOR"),
        (cond("seats", "is_greater_than", "ten"), "conditions.1.values", "INVALID_VALUE"),
        (cond("renewal", "days_before", "-1"), "conditions.1.values", "INVALID_VALUE"),
        (cond("tier", "equal_to", "bronze"), "conditions.1.values", "INVALID_VALUE"),
        (cond("blocked", "equal_to", "yes"), "conditions.1.values", "INVALID_VALUE"),
        (cond("name", "contains"), "conditions.1.values", "REQUIRED"),
    ]
    for bad, field, code in cases:
        body = await desk.run(desk.agent, LIST, {"c": [cond("name", "is_present", q="and"), bad]})
        assert body.get("data") is None, bad
        error = body["errors"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", body
        assert error["extensions"]["field"] == field and error["extensions"]["reason"] == code, (bad, body)
    body = await desk.run(desk.agent, LIST, {"c": [cond("name", "is_present", q="xor"), cond("name", "is_present")]})
    assert body["errors"][0]["extensions"]["field"] == "conditions.0.queryOperator"
    body = await desk.run(desk.agent, LIST, {"c": [cond("name", "is_present")] * 21})
    assert body["errors"][0]["extensions"]["field"] == "conditions"
    # a conversation attribute is not a contact attribute, and the other way round
    await define(desk, "only_conv", "TEXT")
    body = await desk.run(desk.agent, LIST, {"c": [cond("only_conv", "is_present")]})
    assert body["errors"][0]["extensions"]["reason"] == "UNKNOWN_ATTRIBUTE"


async def test_another_accounts_contact_attributes_and_contacts(desk: Desk, world: dict, gql):
    other = await signup(gql, account="Other")
    made = await gql.data(
        "mutation($input: CustomAttributeDefinitionCreateInput!) { customAttributeDefinitionCreate(input: $input) "
        f"{{ customAttributeDefinition {{ id }} {ERR} }} }}",
        {"input": {"model": "CONTACT", "key": "secret", "displayName": "S", "displayType": "TEXT"}},
        headers=other.headers(),
    )
    assert made["customAttributeDefinitionCreate"]["errors"] == []
    body = await desk.run(desk.agent, LIST, {"c": [cond("secret", "is_present")]})
    assert body["errors"][0]["extensions"]["reason"] == "UNKNOWN_ATTRIBUTE"
    # the other account sees none of these contacts, whatever it filters on
    theirs = await gql.data(LIST, {"c": [cond("email", "contains", "example.test")]}, headers=other.headers())
    assert theirs["contacts"]["edges"] == []
    # and its own attribute finds nothing here
    theirs = await gql.data(LIST, {"c": [cond("secret", "is_not_present")]}, headers=other.headers())
    assert theirs["contacts"]["edges"] == []
