"""Root fields of scheduled messages: agents of the conversation's inbox read, schedule and cancel;
the author (or an administrator) edits."""

from __future__ import annotations

import strawberry

from domain.accounts.policy import Rule
from resolvers import scheduling as r
from schema.core.access import field, mutation
from schema.core.pagination import Connection
from schema.scheduling import types as t


@strawberry.type
class SchedulingQuery:
    scheduled_messages: Connection[t.ScheduledMessage] = field(
        r.scheduled_messages,
        Rule.agent,
        "A conversation's scheduled messages (one you may see), soonest first; keyset cursors, at most 100 a page.",
    )


@strawberry.type
class SchedulingMutation:
    scheduled_message_create: t.ScheduledMessagePayload = mutation(
        r.scheduled_message_create,
        Rule.agent,
        "Schedule a reply or private note on a conversation you may see; the scheduler sends it once at `sendAt`.",
    )
    scheduled_message_update: t.ScheduledMessagePayload = mutation(
        r.scheduled_message_update,
        Rule.agent,
        "Change a pending scheduled message (its author or an administrator); refused once sent (ALREADY_SENT).",
    )
    scheduled_message_cancel: t.ScheduledMessagePayload = mutation(
        r.scheduled_message_cancel,
        Rule.agent,
        "Cancel a pending scheduled message of a conversation you may see; refused once sent (ALREADY_SENT).",
    )
