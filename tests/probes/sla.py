"""Tenancy-walk probes of SLA policies, applying them to conversations and the SLA report."""

from __future__ import annotations

from tests.probes.base import PAYLOAD_ERRORS, Probe

# No B_STATE fragment: the snapshot query is at its root-field limit; A's update and delete of B's
# policy are refused NOT_FOUND before anything is written, and tests/test_sla.py reads B's policy after.


async def setup_b(gql, world) -> None:
    body = await gql.data(
        'mutation { slaPolicyCreate(input: {name: "B gold", firstResponseSeconds: 600}) '
        "{ slaPolicy { id } errors { code } } }",
        headers=world.admin_b.headers(),
    )
    assert body["slaPolicyCreate"]["errors"] == [], body
    world.b["sla_policy"] = body["slaPolicyCreate"]["slaPolicy"]["id"]


def _b(document: str) -> Probe:
    return Probe(document, lambda w: {"id": w.b["sla_policy"]}, inside_a="NOT_FOUND")


PROBES: dict[str, Probe | str] = {
    "slaPolicies": Probe("{ slaPolicies { id name } }"),
    "slaPolicy": _b("query($id: ID!) { slaPolicy(id: $id) { id name } }"),
    "slaPolicyCreate": Probe(
        f'mutation {{ slaPolicyCreate(input: {{name: "A silver", resolutionSeconds: 3600}}) {{ {PAYLOAD_ERRORS} }} }}'
    ),
    "slaPolicyUpdate": _b(
        f'mutation($id: ID!) {{ slaPolicyUpdate(id: $id, input: {{name: "Pwned"}}) {{ {PAYLOAD_ERRORS} }} }}'
    ),
    "slaPolicyDelete": _b(f"mutation($id: ID!) {{ slaPolicyDelete(id: $id) {{ {PAYLOAD_ERRORS} }} }}"),
    "conversationSlaApply": Probe(
        f"mutation($c: ID!, $p: ID!) {{ conversationSlaApply(id: $c, slaPolicyId: $p) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"c": w.b["conversation"], "p": w.b["sla_policy"]},
        inside_a="NOT_FOUND",
    ),
    "conversationSlaRemove": Probe(
        f"mutation($c: ID!) {{ conversationSlaRemove(id: $c) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"c": w.b["conversation"]},
        inside_a="NOT_FOUND",
    ),
    "slaReport": Probe(
        '{ slaReport(input: {since: "2026-01-01", until: "2026-12-31"}) { applied hit missed hitRate policy { id } } }'
    ),
}
