"""Tenancy-walk probes of teams, labels, canned responses and custom attribute definitions."""

from __future__ import annotations

from tests.probes.base import PAYLOAD_ERRORS, Probe

B_STATE = """
  teams { id name description allowAutoAssign members { id } }
  labels { id title description color showOnSidebar }
  cannedResponses { id shortCode content }
  customAttributeDefinitions { id key displayName description listValues regexPattern regexCue }
"""


async def setup_b(gql, world) -> None:
    h = world.admin_b.headers()
    team = await gql.data('mutation { teamCreate(input: {name: "B team"}) { team { id } errors { code } } }', headers=h)
    world.b["team"] = team["teamCreate"]["team"]["id"]
    added = await gql.data(
        "mutation($t: ID!, $u: ID!) { teamMembersAdd(id: $t, input: {userIds: [$u]}) { errors { code } } }",
        {"t": world.b["team"], "u": world.b["admin_user"]},
        headers=h,
    )
    assert added["teamMembersAdd"]["errors"] == []
    label = await gql.data(
        'mutation { labelCreate(input: {title: "b-label"}) { label { id } errors { code } } }', headers=h
    )
    world.b["label"] = label["labelCreate"]["label"]["id"]
    canned = await gql.data(
        'mutation { cannedResponseCreate(input: {shortCode: "bhello", content: "Hello from B"}) '
        "{ cannedResponse { id } errors { code } } }",
        headers=h,
    )
    world.b["canned_response"] = canned["cannedResponseCreate"]["cannedResponse"]["id"]
    definition = await gql.data(
        'mutation { customAttributeDefinitionCreate(input: {model: CONTACT, key: "b_plan", displayName: "Plan", '
        "displayType: TEXT}) { customAttributeDefinition { id } errors { code } } }",
        headers=h,
    )
    world.b["attribute_definition"] = definition["customAttributeDefinitionCreate"]["customAttributeDefinition"]["id"]


def _b(key: str, document: str) -> Probe:
    return Probe(document, lambda w: {"id": w.b[key]}, inside_a="NOT_FOUND")


PROBES: dict[str, Probe | str] = {
    "teams": Probe("{ teams { id name members { id } } }"),
    "team": _b("team", "query($id: ID!) { team(id: $id) { id members { id } } }"),
    "labels": Probe("{ labels { id title } }"),
    "cannedResponses": Probe('{ cannedResponses(search: "hello") { id shortCode content } }'),
    "customAttributeDefinitions": Probe("{ customAttributeDefinitions { id key } }"),
    "teamCreate": Probe(f'mutation {{ teamCreate(input: {{name: "B team"}}) {{ team {{ id }} {PAYLOAD_ERRORS} }} }}'),
    "teamUpdate": _b(
        "team", f'mutation($id: ID!) {{ teamUpdate(id: $id, input: {{name: "Pwned"}}) {{ {PAYLOAD_ERRORS} }} }}'
    ),
    "teamDelete": _b("team", f"mutation($id: ID!) {{ teamDelete(id: $id) {{ {PAYLOAD_ERRORS} }} }}"),
    "teamMembersAdd": _b(
        "team", f"mutation($id: ID!) {{ teamMembersAdd(id: $id, input: {{userIds: []}}) {{ {PAYLOAD_ERRORS} }} }}"
    ),
    "teamMembersRemove": Probe(
        f"mutation($id: ID!, $u: ID!) {{ teamMembersRemove(id: $id, input: {{userIds: [$u]}}) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["team"], "u": w.b["admin_user"]},
        inside_a="NOT_FOUND",
    ),
    "teamMembersSet": _b(
        "team", f"mutation($id: ID!) {{ teamMembersSet(id: $id, input: {{userIds: []}}) {{ {PAYLOAD_ERRORS} }} }}"
    ),
    "labelCreate": Probe(
        f'mutation {{ labelCreate(input: {{title: "b-label"}}) {{ label {{ id }} {PAYLOAD_ERRORS} }} }}'
    ),
    "labelUpdate": _b(
        "label", f'mutation($id: ID!) {{ labelUpdate(id: $id, input: {{title: "pwned"}}) {{ {PAYLOAD_ERRORS} }} }}'
    ),
    "labelDelete": _b("label", f"mutation($id: ID!) {{ labelDelete(id: $id) {{ {PAYLOAD_ERRORS} }} }}"),
    "cannedResponseCreate": Probe(
        f'mutation {{ cannedResponseCreate(input: {{shortCode: "bhello", content: "x"}}) {{ cannedResponse {{ id }} {PAYLOAD_ERRORS} }} }}'
    ),
    "cannedResponseUpdate": _b(
        "canned_response",
        f'mutation($id: ID!) {{ cannedResponseUpdate(id: $id, input: {{content: "Pwned"}}) {{ {PAYLOAD_ERRORS} }} }}',
    ),
    "cannedResponseDelete": _b(
        "canned_response", f"mutation($id: ID!) {{ cannedResponseDelete(id: $id) {{ {PAYLOAD_ERRORS} }} }}"
    ),
    "customAttributeDefinitionCreate": Probe(
        f'mutation {{ customAttributeDefinitionCreate(input: {{model: CONTACT, key: "b_plan", displayName: "X", displayType: TEXT}}) '
        f"{{ customAttributeDefinition {{ id }} {PAYLOAD_ERRORS} }} }}"
    ),
    "customAttributeDefinitionUpdate": _b(
        "attribute_definition",
        f'mutation($id: ID!) {{ customAttributeDefinitionUpdate(id: $id, input: {{displayName: "Pwned", regexPattern: null}}) '
        f"{{ {PAYLOAD_ERRORS} }} }}",
    ),
    "customAttributeDefinitionDelete": _b(
        "attribute_definition",
        f"mutation($id: ID!) {{ customAttributeDefinitionDelete(id: $id) {{ {PAYLOAD_ERRORS} }} }}",
    ),
}
