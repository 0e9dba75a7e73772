"""Tenancy-walk probes of saved views and the bulk action over a filter."""

from __future__ import annotations

from tests.probes.base import PAYLOAD_ERRORS, Probe

# No B_STATE fragment: the snapshot query is at its root-field limit; A's update and delete of B's view
# are refused NOT_FOUND before anything is written, and tests/test_saved_views.py reads B's view after.


async def setup_b(gql, world) -> None:
    body = await gql.data(
        'mutation { savedViewCreate(input: {kind: CONVERSATION, name: "B open", accountWide: true, tab: ALL, '
        'conditions: [{attributeKey: "status", filterOperator: "equal_to", values: ["open"]}]}) '
        "{ savedView { id } errors { code } } }",
        headers=world.admin_b.headers(),
    )
    assert body["savedViewCreate"]["errors"] == [], body
    world.b["saved_view"] = body["savedViewCreate"]["savedView"]["id"]


def _b(document: str) -> Probe:
    return Probe(document, lambda w: {"id": w.b["saved_view"]}, inside_a="NOT_FOUND")


PROBES: dict[str, Probe | str] = {
    "savedViews": Probe("{ savedViews(kind: CONVERSATION) { id name } }"),
    "savedViewCreate": Probe(
        f'mutation {{ savedViewCreate(input: {{kind: CONTACT, name: "A view"}}) {{ {PAYLOAD_ERRORS} }} }}'
    ),
    "savedViewUpdate": _b(
        f'mutation($id: ID!) {{ savedViewUpdate(id: $id, input: {{name: "Pwned"}}) {{ {PAYLOAD_ERRORS} }} }}'
    ),
    "savedViewDelete": _b(f"mutation($id: ID!) {{ savedViewDelete(id: $id) {{ {PAYLOAD_ERRORS} }} }}"),
    "conversationsBulkUpdate": Probe(
        "mutation($i: ID!) { conversationsBulkUpdate(filter: {inboxId: $i}, status: RESOLVED) "
        f"{{ matched changed {PAYLOAD_ERRORS} }} }}",
        lambda w: {"i": w.b["inbox"]},
    ),
}
