"""The tenancy and role walk: every root query and mutation, discovered from the schema, is called by a
member of account A against account B (switching the account header, and passing B's IDs inside A),
and by an agent where only administrators may act. Nothing of B may be read or changed.

A new root field fails `test_every_root_field_has_a_rule_and_a_probe` until it declares an access
rule and gets a probe here."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from domain.accounts.policy import Rule
from schema.core.access import rule_of
from schema.root import schema
from tests.probes import B_STATE_FRAGMENTS, PROBES, SETUPS
from tests.probes.base import Probe
from tests.support.accounts import Member, add_agent, signup
from tests.support.worlds import SharedWorld

ACCOUNT_SCOPED = {Rule.member, Rule.agent, Rule.administrator, Rule.report_manage, Rule.contact_manage}


@dataclass
class World:
    admin_a: Member
    agent_a: Member
    admin_b: Member
    b: dict = field(default_factory=dict)  # IDs of B's objects


def root_fields() -> dict[str, Rule | None]:
    fields = {}
    for type_def in (schema.schema_converter.type_map["Query"], schema.schema_converter.type_map["Mutation"]):
        for f in type_def.definition.fields:
            fields[schema.config.name_converter.get_graphql_name(f)] = rule_of(f)
    return fields


FIELDS = root_fields()


def test_every_root_field_has_a_rule_and_a_probe():
    missing_rule = sorted(name for name, rule in FIELDS.items() if rule is None)
    assert not missing_rule, f"root fields without an access rule: {missing_rule}"
    missing_probe = sorted(set(FIELDS) - set(PROBES))
    assert not missing_probe, f"root fields the tenancy walk does not cover yet: {missing_probe}"
    stale = sorted(set(PROBES) - set(FIELDS))
    assert not stale, f"probes for fields that no longer exist: {stale}"
    for name, probe in PROBES.items():
        if isinstance(probe, str):
            assert FIELDS[name] == Rule.public, f"{name} is not public, so it needs a real probe"


B_STATE = (
    """{
  account { name locale timezone status }
  memberships { edges { node { id role customRole { id } } } }
  customRoles { id name permissions }
  bots { id name description outgoingUrl inboxes { id name } }
  apiTokens { id name revokedAt }
  auditLogs(first: 100) { edges { node { id action } } }
"""
    + "".join(B_STATE_FRAGMENTS)
    + "}"
)


async def make_world(gql, smtp) -> World:
    admin_a = await signup(gql, account="A")
    agent_a = await add_agent(gql, admin_a, smtp)
    admin_b = await signup(gql, account="B")
    agent_b = await add_agent(gql, admin_b, smtp)
    w = World(admin_a, agent_a, admin_b)
    h = admin_b.headers()
    role = await gql.data(
        'mutation { customRoleCreate(input: {name: "Leads", permissions: [REPORT_MANAGE]}) { customRole { id } } }',
        headers=h,
    )
    bot = await gql.data('mutation { botCreate(input: {name: "B bot"}) { bot { id } } }', headers=h)
    w.b["custom_role"] = role["customRoleCreate"]["customRole"]["id"]
    w.b["bot"] = bot["botCreate"]["bot"]["id"]
    token = await gql.data(
        'mutation($b: ID) { apiTokenCreate(input: {name: "b", botId: $b}) { apiToken { id } } }',
        {"b": w.b["bot"]},
        headers=h,
    )
    w.b["bot_token"] = token["apiTokenCreate"]["apiToken"]["id"]
    me_b = await gql.data("{ me { user { id } } memberships { edges { node { id user { email } } } } }", headers=h)
    w.b["admin_user"] = me_b["me"]["user"]["id"]
    by_email = {e["node"]["user"]["email"]: e["node"]["id"] for e in me_b["memberships"]["edges"]}
    w.b["membership"] = by_email[admin_b.email]
    w.b["agent_membership"] = by_email[agent_b.email]
    for setup in SETUPS:
        await setup(gql, w)
    return w


def top_code(body: dict) -> str | None:
    errors = body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


# One world for every probe: none may change B (each checks), and what they do inside A is A's own.
WORLD: SharedWorld[World] = SharedWorld()
ENDS_SESSIONS = {"logout", "logoutEverywhere"}  # A's administrator is signed out: later probes need a new world


@pytest.mark.keep_tables
@pytest.mark.parametrize("name", sorted(n for n, p in PROBES.items() if isinstance(p, Probe)))
async def test_a_member_of_a_can_neither_read_nor_change_b(name, gql, smtp, tables):
    world = await WORLD.get(tables, lambda: make_world(gql, smtp))
    if name in ENDS_SESSIONS:
        WORLD.drop()
    probe = PROBES[name]
    rule = FIELDS[name]
    before = await gql.data(B_STATE, headers=world.admin_b.headers())
    variables = probe.variables(world)

    if rule in ACCOUNT_SCOPED:
        # 1. Switching the account header to B: A's administrator is not a member there.
        body = await gql.execute(probe.document, variables, headers=world.admin_a.headers(world.admin_b.account_id))
        assert top_code(body) == "FORBIDDEN", body
        # 2. An agent of A where only administrators may act.
        if rule == Rule.administrator:
            body = await gql.execute(probe.document, variables, headers=world.agent_a.headers())
            assert top_code(body) == "FORBIDDEN", body

    # 3. Inside A, naming B's objects.
    body = await gql.execute(probe.document, variables, headers=world.admin_a.headers())
    if probe.inside_a == "NOT_FOUND":
        assert top_code(body) == "NOT_FOUND", body
    elif probe.inside_a == "FORBIDDEN":  # fields of another kind of caller (the widget's contact sessions)
        assert top_code(body) == "FORBIDDEN", body
    elif probe.inside_a == "PAYLOAD":
        assert top_code(body) is None, body
        payload = next(iter(body["data"].values()))
        assert [e["code"] for e in payload["errors"]] == ["NOT_FOUND"], payload
    else:
        assert top_code(body) is None, body
        text = str(body["data"])
        for key, b_id in world.b.items():
            if key != "admin_user":  # the filter argument itself
                assert b_id not in text, f"{name} leaked B's {key}"
        assert world.admin_b.account_id not in text, f"{name} leaked B's account"

    after = await gql.data(B_STATE, headers=world.admin_b.headers())
    assert after == before, f"{name} changed account B"
