"""Tenancy-walk probes of agent bots: their changes, their inboxes and the hand-off to people."""

from __future__ import annotations

from tests.probes.base import PAYLOAD_ERRORS, Probe

# B's bots and inboxes are in the walk's snapshot already (`bots`, `inboxes { bot }`).


async def setup_b(gql, world) -> None:
    """B's bot answers an inbox of B's, with a pending conversation in it."""
    h = world.admin_b.headers()
    inbox = await gql.data(
        'mutation { inboxCreate(input: {name: "B bot inbox", channelType: API}) { inbox { id } } }', headers=h
    )
    world.b["bot_inbox"] = inbox["inboxCreate"]["inbox"]["id"]
    connected = await gql.data(
        "mutation($i: ID!, $b: ID!) { inboxBotSet(id: $i, botId: $b) { errors { code } } }",
        {"i": world.b["bot_inbox"], "b": world.b["bot"]},
        headers=h,
    )
    assert connected["inboxBotSet"]["errors"] == [], connected
    contact = await gql.data('mutation { contactCreate(input: {name: "B visitor"}) { contact { id } } }', headers=h)
    conv = await gql.data(
        "mutation($i: ID!, $c: ID!) { conversationCreate(input: {inboxId: $i, contactId: $c}) "
        "{ conversation { id status } errors { code } } }",
        {"i": world.b["bot_inbox"], "c": contact["contactCreate"]["contact"]["id"]},
        headers=h,
    )
    assert conv["conversationCreate"]["conversation"]["status"] == "PENDING", conv
    world.b["pending_conversation"] = conv["conversationCreate"]["conversation"]["id"]


PROBES: dict[str, Probe | str] = {
    "botUpdate": Probe(
        f'mutation($id: ID!) {{ botUpdate(id: $id, input: {{name: "Pwned", outgoingUrl: null}}) {{ {PAYLOAD_ERRORS} }} }}',
        lambda w: {"id": w.b["bot"]},
        inside_a="NOT_FOUND",
    ),
    "botDelete": Probe(
        f"mutation($id: ID!) {{ botDelete(id: $id) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["bot"]},
        inside_a="NOT_FOUND",
    ),
    # B's inbox is refused before B's bot is looked at: one NOT_FOUND.
    "inboxBotSet": Probe(
        f"mutation($id: ID!, $b: ID!) {{ inboxBotSet(id: $id, botId: $b) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["inbox"], "b": w.b["bot"]},
        inside_a="PAYLOAD",
    ),
    "inboxBotUnset": Probe(
        f"mutation($id: ID!) {{ inboxBotUnset(id: $id) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["bot_inbox"]},
        inside_a="PAYLOAD",
    ),
    "conversationHandoff": Probe(
        f"mutation($id: ID!) {{ conversationHandoff(id: $id) {{ {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["pending_conversation"]},
        inside_a="NOT_FOUND",
    ),
}
