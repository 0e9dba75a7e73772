"""Tenancy-walk probes of automation rules, their runs and macros."""

from __future__ import annotations

from tests.probes.base import PAYLOAD_ERRORS, Probe

# No B_STATE fragment: the snapshot query is at its root-field limit. A's changes of B's rule and
# macro are refused NOT_FOUND before anything is written; tests/test_automation.py reads B's after.


async def setup_b(gql, world) -> None:
    h = world.admin_b.headers()
    rule = await gql.data(
        'mutation { automationRuleCreate(input: {name: "B rule", eventName: MESSAGE_CREATED, active: false, '
        'actions: [{actionName: "change_priority", params: ["low"]}]}) { automationRule { id } errors { code } } }',
        headers=h,
    )
    assert rule["automationRuleCreate"]["errors"] == [], rule
    world.b["automation_rule"] = rule["automationRuleCreate"]["automationRule"]["id"]
    macro = await gql.data(
        'mutation { macroCreate(input: {name: "B macro", accountWide: true, '
        'actions: [{actionName: "resolve_conversation"}]}) { macro { id } errors { code } } }',
        headers=h,
    )
    assert macro["macroCreate"]["errors"] == [], macro
    world.b["macro"] = macro["macroCreate"]["macro"]["id"]


def _rule(document: str) -> Probe:
    return Probe(document, lambda w: {"id": w.b["automation_rule"]}, inside_a="NOT_FOUND")


def _macro(document: str) -> Probe:
    return Probe(document, lambda w: {"id": w.b["macro"]}, inside_a="NOT_FOUND")


# A's rule or macro naming B's team is refused in its payload.
_TEAM_ACTION = '[{actionName: "assign_team", params: [$t]}]'

PROBES: dict[str, Probe | str] = {
    "automationRules": Probe("{ automationRules { id name actions { actionName params } } }"),
    "automationRule": _rule("query($id: ID!) { automationRule(id: $id) { id name } }"),
    "automationRuns": _rule("query($id: ID!) { automationRuns(ruleId: $id) { edges { node { id } } } }"),
    "automationRuleCreate": Probe(
        f'mutation($t: String!) {{ automationRuleCreate(input: {{name: "A rule", eventName: CONVERSATION_CREATED, '
        f"actions: {_TEAM_ACTION}}}) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"t": w.b["team"]},
        inside_a="PAYLOAD",
    ),
    "automationRuleUpdate": _rule(
        f'mutation($id: ID!) {{ automationRuleUpdate(id: $id, input: {{name: "Pwned"}}) {{ {PAYLOAD_ERRORS} }} }}'
    ),
    "automationRuleDelete": _rule(f"mutation($id: ID!) {{ automationRuleDelete(id: $id) {{ {PAYLOAD_ERRORS} }} }}"),
    "macros": Probe("{ macros { id name } }"),
    "macroCreate": Probe(
        f'mutation($t: String!) {{ macroCreate(input: {{name: "A macro", actions: {_TEAM_ACTION}}}) {{ {PAYLOAD_ERRORS} }} }}',
        lambda w: {"t": w.b["team"]},
        inside_a="PAYLOAD",
    ),
    "macroUpdate": _macro(
        f'mutation($id: ID!) {{ macroUpdate(id: $id, input: {{name: "Pwned"}}) {{ {PAYLOAD_ERRORS} }} }}'
    ),
    "macroDelete": _macro(f"mutation($id: ID!) {{ macroDelete(id: $id) {{ {PAYLOAD_ERRORS} }} }}"),
    "macroExecute": Probe(
        f"mutation($id: ID!, $c: ID!) {{ macroExecute(id: $id, conversationIds: [$c]) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["macro"], "c": w.b["conversation"]},
        inside_a="NOT_FOUND",
    ),
}
