"""Tenancy-walk probes of inboxes, contacts, conversations and messages."""

from __future__ import annotations

from tests.probes.base import PAYLOAD_ERRORS, Probe

B_STATE = """
  inboxes { id name bot { id } reassignOfflineAfterSeconds }
  contacts(first: 20) { edges { node { id name email blocked labels { title } notes { id content } } } }
  conversations(first: 10) { edges { node { id status priority assignee { id } labels { title } customAttributes mergedInto { id } slaDueAt sla { status }
    messages(first: 20) { edges { node { id content deletedAt } } } } } }
"""


async def setup_b(gql, world) -> None:
    h = world.admin_b.headers()
    inbox = await gql.data(
        'mutation { inboxCreate(input: {name: "B inbox", channelType: API}) { inbox { id } } }', headers=h
    )
    world.b["inbox"] = inbox["inboxCreate"]["inbox"]["id"]
    for key, email in (("contact", "b1@b.test"), ("contact2", "b2@b.test")):
        c = await gql.data(
            'mutation($e: String) { contactCreate(input: {name: "B", email: $e}) { contact { id } } }',
            {"e": email},
            headers=h,
        )
        world.b[key] = c["contactCreate"]["contact"]["id"]
    conv = await gql.data(
        'mutation($i: ID!, $c: ID!) { conversationCreate(input: {inboxId: $i, contactId: $c, message: "hello B"}) '
        "{ conversation { id lastMessage { id } } errors { code } } }",
        {"i": world.b["inbox"], "c": world.b["contact"]},
        headers=h,
    )
    world.b["conversation"] = conv["conversationCreate"]["conversation"]["id"]
    world.b["message"] = conv["conversationCreate"]["conversation"]["lastMessage"]["id"]
    conv2 = await gql.data(
        'mutation($i: ID!, $c: ID!) { conversationCreate(input: {inboxId: $i, contactId: $c, message: "again B"}) '
        "{ conversation { id } } }",
        {"i": world.b["inbox"], "c": world.b["contact"]},
        headers=h,
    )
    world.b["conversation2"] = conv2["conversationCreate"]["conversation"]["id"]
    note = await gql.data(
        'mutation($c: ID!) { contactNoteCreate(contactId: $c, content: "B note") { note { id } } }',
        {"c": world.b["contact"]},
        headers=h,
    )
    world.b["contact_note"] = note["contactNoteCreate"]["note"]["id"]


def _conv(mutation: str) -> Probe:
    return Probe(mutation, lambda w: {"id": w.b["conversation"]}, inside_a="NOT_FOUND")


PROBES: dict[str, Probe | str] = {
    "inboxes": Probe("{ inboxes { id } }"),
    "contacts": Probe("{ contacts(first: 100) { edges { node { id } } } }"),
    "contact": Probe(
        "query($id: ID!) { contact(id: $id) { id } }", lambda w: {"id": w.b["contact"]}, inside_a="NOT_FOUND"
    ),
    "conversations": Probe("{ conversations(first: 100) { edges { node { id } } } }"),
    "conversation": Probe(
        "query($id: ID!) { conversation(id: $id) { id } }", lambda w: {"id": w.b["conversation"]}, inside_a="NOT_FOUND"
    ),
    # B's saved view (tests/probes/saved_views.py) named in A's filter: the list, its counts and the
    # bulk action share the filter input, so one probe of it covers `viewId`
    "conversationCounts": Probe(
        "query($v: ID!) { conversationCounts(filter: {viewId: $v}) { open } }",
        lambda w: {"v": w.b["saved_view"]},
        inside_a="NOT_FOUND",
    ),
    "search": Probe(
        '{ search(query: "hello", first: 25) { conversations { id } messages { message { id } conversation { id } } '
        "contacts { id } } }"
    ),
    "inboxCreate": Probe(f'mutation {{ inboxCreate(input: {{name: "A2", channelType: API}}) {{ {PAYLOAD_ERRORS} }} }}'),
    "inboxUpdate": Probe(
        f'mutation($id: ID!) {{ inboxUpdate(id: $id, input: {{name: "Pwned"}}) {{ {PAYLOAD_ERRORS} }} }}',
        lambda w: {"id": w.b["inbox"]},
        inside_a="NOT_FOUND",
    ),
    "inboxMembersSet": Probe(
        f"mutation($id: ID!) {{ inboxMembersSet(id: $id, userIds: []) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["inbox"]},
        inside_a="NOT_FOUND",
    ),
    "contactCreate": Probe(f'mutation {{ contactCreate(input: {{name: "A contact"}}) {{ {PAYLOAD_ERRORS} }} }}'),
    "contactUpdate": Probe(
        f'mutation($id: ID!) {{ contactUpdate(id: $id, input: {{name: "Pwned", blocked: true}}) {{ {PAYLOAD_ERRORS} }} }}',
        lambda w: {"id": w.b["contact"]},
        inside_a="NOT_FOUND",
    ),
    "contactDelete": Probe(
        f"mutation($id: ID!) {{ contactDelete(id: $id) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["contact"]},
        inside_a="NOT_FOUND",
    ),
    "contactsBulkLabels": Probe(
        f'mutation($id: ID!) {{ contactsBulkLabels(ids: [$id], labelsAdd: ["x"]) {{ matched {PAYLOAD_ERRORS} }} }}',
        lambda w: {"id": w.b["contact"]},
        inside_a="PAYLOAD",
    ),
    "contactsBulkDelete": Probe(
        f"mutation($id: ID!) {{ contactsBulkDelete(ids: [$id]) {{ matched {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["contact"]},
        inside_a="PAYLOAD",
    ),
    "contactMerge": Probe(
        f"mutation($a: ID!, $b: ID!) {{ contactMerge(baseContactId: $a, mergeeContactId: $b) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"a": w.b["contact"], "b": w.b["contact2"]},
        inside_a="NOT_FOUND",
    ),
    "contactNoteCreate": Probe(
        f'mutation($id: ID!) {{ contactNoteCreate(contactId: $id, content: "x") {{ {PAYLOAD_ERRORS} }} }}',
        lambda w: {"id": w.b["contact"]},
        inside_a="NOT_FOUND",
    ),
    "contactNoteUpdate": Probe(
        f'mutation($id: ID!) {{ contactNoteUpdate(id: $id, content: "pwned") {{ {PAYLOAD_ERRORS} }} }}',
        lambda w: {"id": w.b["contact_note"]},
        inside_a="NOT_FOUND",
    ),
    "contactNoteDelete": Probe(
        f"mutation($id: ID!) {{ contactNoteDelete(id: $id) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["contact_note"]},
        inside_a="NOT_FOUND",
    ),
    "contactLabelsUpdate": Probe(
        f"mutation($id: ID!) {{ contactLabelsUpdate(id: $id, input: {{replace: true}}) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["contact"]},
        inside_a="NOT_FOUND",
    ),
    "conversationMerge": Probe(
        f"mutation($k: ID!, $m: ID!) {{ conversationMerge(keepId: $k, mergeId: $m) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"k": w.b["conversation"], "m": w.b["conversation2"]},
        inside_a="NOT_FOUND",
    ),
    "conversationCreate": Probe(
        f'mutation($i: ID!, $c: ID!) {{ conversationCreate(input: {{inboxId: $i, contactId: $c, message: "x"}}) {{ {PAYLOAD_ERRORS} }} }}',
        lambda w: {"i": w.b["inbox"], "c": w.b["contact"]},
        inside_a="PAYLOAD",
    ),
    "messageCreate": Probe(
        f'mutation($id: ID!) {{ messageCreate(input: {{conversationId: $id, content: "x"}}) {{ {PAYLOAD_ERRORS} }} }}',
        lambda w: {"id": w.b["conversation"]},
        inside_a="NOT_FOUND",
    ),
    "messageUpdate": Probe(
        f'mutation($id: ID!) {{ messageUpdate(id: $id, content: "Pwned") {{ {PAYLOAD_ERRORS} }} }}',
        lambda w: {"id": w.b["message"]},
        inside_a="NOT_FOUND",
    ),
    "messageDelete": Probe(
        f"mutation($id: ID!) {{ messageDelete(id: $id) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["message"]},
        inside_a="NOT_FOUND",
    ),
    "conversationAssign": _conv(
        f"mutation($id: ID!) {{ conversationAssign(id: $id, input: {{assigneeId: null}}) {{ {PAYLOAD_ERRORS} }} }}"
    ),
    "conversationStatusUpdate": _conv(
        f"mutation($id: ID!) {{ conversationStatusUpdate(id: $id, input: {{status: RESOLVED}}) {{ {PAYLOAD_ERRORS} }} }}"
    ),
    "conversationPriorityUpdate": _conv(
        f"mutation($id: ID!) {{ conversationPriorityUpdate(id: $id, priority: URGENT) {{ {PAYLOAD_ERRORS} }} }}"
    ),
    "conversationLabelsUpdate": _conv(
        f"mutation($id: ID!) {{ conversationLabelsUpdate(id: $id, input: {{add: []}}) {{ {PAYLOAD_ERRORS} }} }}"
    ),
    "conversationCustomAttributesUpdate": _conv(
        f"mutation($id: ID!) {{ conversationCustomAttributesUpdate(id: $id, values: {{}}) {{ {PAYLOAD_ERRORS} }} }}"
    ),
    "conversationMarkRead": _conv(f"mutation($id: ID!) {{ conversationMarkRead(id: $id) {{ {PAYLOAD_ERRORS} }} }}"),
    "conversationMute": _conv(f"mutation($id: ID!) {{ conversationMute(id: $id) {{ {PAYLOAD_ERRORS} }} }}"),
    "conversationTranscriptSend": Probe(
        'mutation($id: ID!) { conversationTranscriptSend(conversationId: $id, email: "probe@a.test") '
        f"{{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["conversation"]},
        inside_a="NOT_FOUND",
    ),
    "conversationBulkUpdate": Probe(
        f"mutation($id: ID!) {{ conversationBulkUpdate(input: {{ids: [$id], status: RESOLVED}}) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["conversation"]},
        inside_a="NOT_FOUND",
    ),
}
