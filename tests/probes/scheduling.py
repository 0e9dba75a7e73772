"""Tenancy-walk probes of scheduled messages and the auto-resolve setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.probes.base import PAYLOAD_ERRORS, Probe

# No B_STATE fragment (the snapshot query is at its root-field limit): A's update and cancel of B's
# scheduled message are refused NOT_FOUND before anything is written, and
# tests/test_scheduled_messages.py reads B's after.


def _soon() -> str:
    return (datetime.now(UTC) + timedelta(days=30)).isoformat()


async def setup_b(gql, world) -> None:
    body = await gql.data(
        "mutation($c: ID!, $at: DateTime!) { scheduledMessageCreate(input: {conversationId: $c, "
        'content: "later, B", sendAt: $at}) { scheduledMessage { id } errors { code } } }',
        {"c": world.b["conversation"], "at": _soon()},
        headers=world.admin_b.headers(),
    )
    assert body["scheduledMessageCreate"]["errors"] == [], body
    world.b["scheduled_message"] = body["scheduledMessageCreate"]["scheduledMessage"]["id"]


def _b(document: str) -> Probe:
    return Probe(document, lambda w: {"id": w.b["scheduled_message"]}, inside_a="PAYLOAD")


PROBES: dict[str, Probe | str] = {
    "scheduledMessages": Probe(
        "query($c: ID!) { scheduledMessages(conversationId: $c) { edges { node { id content } } } }",
        lambda w: {"c": w.b["conversation"]},
        inside_a="NOT_FOUND",
    ),
    "scheduledMessageCreate": Probe(
        "mutation($c: ID!, $at: DateTime!) { scheduledMessageCreate(input: {conversationId: $c, "
        f'content: "pwned", sendAt: $at}}) {{ {PAYLOAD_ERRORS} }} }}',
        lambda w: {"c": w.b["conversation"], "at": _soon()},
        inside_a="PAYLOAD",
    ),
    "scheduledMessageUpdate": _b(
        f'mutation($id: ID!) {{ scheduledMessageUpdate(id: $id, input: {{content: "pwned"}}) {{ {PAYLOAD_ERRORS} }} }}'
    ),
    "scheduledMessageCancel": _b(f"mutation($id: ID!) {{ scheduledMessageCancel(id: $id) {{ {PAYLOAD_ERRORS} }} }}"),
    "autoResolveSettings": Probe("{ autoResolveSettings { afterMinutes message } }"),
    "autoResolveSettingsUpdate": Probe(
        f"mutation {{ autoResolveSettingsUpdate(input: {{afterMinutes: 60}}) {{ settings {{ afterMinutes }} {PAYLOAD_ERRORS} }} }}"
    ),
}
