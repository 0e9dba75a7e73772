"""Tenancy-walk probes of notifications and notification settings (always the caller's own)."""

from __future__ import annotations

import asyncio

from tests.probes.base import PAYLOAD_ERRORS, Probe

B_STATE = """
  notifications(first: 20) { edges { node { id readAt } } }
  notificationUnreadCount
  notificationSettings { notificationType inApp email }
"""


async def setup_b(gql, world) -> None:
    """B's administrator is assigned a conversation by B's bot, so B has a notification to aim at."""
    h = world.admin_b.headers()
    inbox = await gql.data(
        'mutation { inboxCreate(input: {name: "B notify", channelType: API}) { inbox { id } } }', headers=h
    )
    inbox_id = inbox["inboxCreate"]["inbox"]["id"]
    await gql.data(
        "mutation($i: ID!, $u: [ID!]!) { inboxMembersSet(id: $i, userIds: $u) { errors { code } } }",
        {"i": inbox_id, "u": [world.b["admin_user"]]},
        headers=h,
    )
    contact = await gql.data(
        'mutation { contactCreate(input: {name: "B", email: "bn@b.test"}) { contact { id } } }', headers=h
    )
    bot = await gql.data('mutation { botCreate(input: {name: "B channel"}) { bot { id } } }', headers=h)
    await gql.data(  # a bot's token reaches the inboxes connected to it
        "mutation($i: ID!, $b: ID!) { inboxBotSet(id: $i, botId: $b) { errors { code } } }",
        {"i": inbox_id, "b": bot["botCreate"]["bot"]["id"]},
        headers=h,
    )
    token = await gql.data(
        'mutation($b: ID) { apiTokenCreate(input: {name: "b channel", botId: $b}) { secret } }',
        {"b": bot["botCreate"]["bot"]["id"]},
        headers=h,
    )
    as_bot = {
        "Authorization": f"Bearer {token['apiTokenCreate']['secret']}",
        "X-Parley-Account": world.admin_b.account_id,
    }
    created = await gql.data(
        "mutation($i: ID!, $c: ID!, $a: ID) { conversationCreate(input: {inboxId: $i, contactId: $c, assigneeId: $a}) "
        "{ errors { code } } }",
        {"i": inbox_id, "c": contact["contactCreate"]["contact"]["id"], "a": world.b["admin_user"]},
        headers=as_bot,
    )
    assert created["conversationCreate"]["errors"] == []
    for _ in range(200):  # the worker makes it after the commit
        found = await gql.data("{ notifications(first: 1) { edges { node { id } } } }", headers=h)
        if found["notifications"]["edges"]:
            world.b["notification"] = found["notifications"]["edges"][0]["node"]["id"]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("B's notification was not made")


PROBES: dict[str, Probe | str] = {
    "notifications": Probe(
        "{ notifications(first: 100) { edges { node { id conversation { id } message { id } } } } }"
    ),
    "notificationUnreadCount": Probe("{ notificationUnreadCount }"),
    "notificationSettings": Probe("{ notificationSettings { notificationType inApp email } }"),
    "notificationMarkRead": Probe(
        f"mutation($id: ID!) {{ notificationMarkRead(input: {{ids: [$id]}}) {{ notifications {{ id }} {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["notification"]},
        inside_a="PAYLOAD",
    ),
    "notificationMarkAllRead": Probe(f"mutation {{ notificationMarkAllRead {{ markedCount {PAYLOAD_ERRORS} }} }}"),
    "notificationDelete": Probe(
        f"mutation($id: ID!) {{ notificationDelete(input: {{id: $id}}) {{ notification {{ id }} {PAYLOAD_ERRORS} }} }}",
        lambda w: {"id": w.b["notification"]},
        inside_a="NOT_FOUND",
    ),
    "notificationSettingsUpdate": Probe(
        f"mutation {{ notificationSettingsUpdate(input: {{settings: [{{notificationType: CONVERSATION_CREATION, inApp: true, "
        f"email: true}}]}}) {{ settings {{ notificationType }} {PAYLOAD_ERRORS} }} }}"
    ),
}
