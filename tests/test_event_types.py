"""Every event type is classified in one table (domain/events/enums.py): who consumes it, the webhook
it becomes, which streams show it. The registries read from that table must keep the values they
had when each was written out by hand, and every type the services record must be in it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from domain import realtime
from domain.events.enums import (
    CONSUMERS,
    KINDS,
    PERSONAL_TYPES,
    WEBHOOK_EVENTS,
    Consumer,
    EventType,
    LiveType,
    Stream,
    shown_in,
)
from domain.notifications.fanout import CONSUMED as NOTIFICATIONS_CONSUMED
from domain.reports.recorder import CONSUMED as REPORTS_CONSUMED
from domain.webhooks.enums import WebhookEvent
from domain.webhooks.payloads import EVENT_MAP

ROOT = Path(__file__).resolve().parent.parent


def test_every_type_is_classified():
    assert set(KINDS) == set(EventType)
    for event_type, kind in KINDS.items():
        # Anything logged is for someone: a consumer, a webhook or a stream.
        assert kind.consumers or kind.webhook or kind.streams, event_type
        assert not (Stream.USER in kind.streams and len(kind.streams) > 1), (
            f"{event_type}: personal events go to one user"
        )
        if kind.webhook is not None:
            assert Consumer.WEBHOOKS in kind.consumers, f"{event_type} has a webhook but no fan-out"


def test_values_are_the_logged_strings():
    assert EventType.MESSAGE_CREATED == "message.created"
    assert {t.value for t in EventType}.isdisjoint({t.value for t in LiveType})
    for event_type in EventType:
        assert re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", event_type.value), event_type


def test_consumers_are_the_actors_of_the_event_log():
    import workers.actors  # noqa: F401 - registers every actor
    from workers.broker import _actors

    names = {actor.actor_name for actor in _actors}
    assert {c.value for c in Consumer} <= names
    assert list(CONSUMERS) == [
        Consumer.WEBHOOKS,
        Consumer.NOTIFICATIONS,
        Consumer.EMAIL_REPLIES,
        Consumer.REPORTS,
        Consumer.ASSIGNMENT,
        Consumer.AUTOMATION,
    ]


def test_registries_keep_their_values():
    webhook_types = {
        "conversation.created",
        "conversation.updated",
        "assignee.changed",
        "team.changed",
        "conversation.status_changed",
        "conversation.merged",
        "message.created",
        "message.updated",
        "contact.created",
        "contact.updated",
        "inbox.created",
        "inbox.updated",
        "conversation.sla_warning",
        "conversation.sla_missed",
    }
    assert CONSUMERS[Consumer.WEBHOOKS] == webhook_types
    assert (
        CONSUMERS[Consumer.NOTIFICATIONS]
        == {
            "conversation.created",
            "assignee.changed",
            "conversation.mentioned",
            "message.created",
            "conversation.sla_warning",
            "conversation.sla_missed",
        }
        == NOTIFICATIONS_CONSUMED
    )
    assert CONSUMERS[Consumer.EMAIL_REPLIES] == {"message.created"}
    assert (
        CONSUMERS[Consumer.REPORTS]
        == {
            "conversation.created",
            "message.created",
            "first.reply.created",
            "reply.created",
            "conversation.status_changed",
            "account.updated",
        }
        == REPORTS_CONSUMED
    )
    assert CONSUMERS[Consumer.AUTOMATION] == {
        "conversation.created",
        "conversation.updated",
        "conversation.status_changed",
        "assignee.changed",
        "team.changed",
        "message.created",
    }
    assert PERSONAL_TYPES == {"notification.created", "notification.updated", "report_export.completed"}
    assert EVENT_MAP == WEBHOOK_EVENTS
    assert EVENT_MAP == {
        "conversation.created": WebhookEvent.CONVERSATION_CREATED,
        "conversation.updated": WebhookEvent.CONVERSATION_UPDATED,
        "assignee.changed": WebhookEvent.CONVERSATION_UPDATED,
        "team.changed": WebhookEvent.CONVERSATION_UPDATED,
        "conversation.status_changed": WebhookEvent.CONVERSATION_STATUS_CHANGED,
        "conversation.merged": WebhookEvent.CONVERSATION_MERGED,
        "message.created": WebhookEvent.MESSAGE_CREATED,
        "message.updated": WebhookEvent.MESSAGE_UPDATED,
        "contact.created": WebhookEvent.CONTACT_CREATED,
        "contact.updated": WebhookEvent.CONTACT_UPDATED,
        "inbox.created": WebhookEvent.INBOX_CREATED,
        "inbox.updated": WebhookEvent.INBOX_UPDATED,
        "conversation.sla_warning": WebhookEvent.SLA_WARNING,
        "conversation.sla_missed": WebhookEvent.SLA_MISSED,
    }
    assert set(WEBHOOK_EVENTS) == CONSUMERS[Consumer.WEBHOOKS]


def test_streams_show_what_the_prefix_rules_showed():
    """The streams were once chosen by type prefixes; the table says the same for every type."""
    account_prefixes = ("conversation.", "message.", "contact.", "inbox.", "assignee.", "team.")
    conversation_prefixes = ("conversation.", "message.", "assignee.", "team.")
    hidden = {"conversation.mentioned"}
    for event_type in EventType:
        assert (event_type in realtime.ACCOUNT_STREAM_TYPES) == (
            event_type.startswith(account_prefixes) and event_type not in hidden
        ), event_type
        assert (event_type in realtime.CONVERSATION_STREAM_TYPES) == (
            event_type.startswith(conversation_prefixes) and event_type not in hidden
        ), event_type
    assert shown_in(Stream.CONTACT) == {
        "conversation.created",
        "conversation.status_changed",
        "message.created",
        "message.updated",
    }


def _recorded_types() -> set[str]:
    """Event types the services pass to the log: `EventType.X` and string literals given as `type=`
    to `events.record` or as the type of a conversation's `_event`."""
    found: set[str] = set()
    for path in (ROOT / "domain").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "EventType":
                found.add(EventType[node.attr].value)
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg == "type" and isinstance(keyword.value, ast.Constant):
                        found.add(keyword.value.value)
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name == "_event" and len(node.args) >= 3 and isinstance(node.args[2], ast.Constant):
                    found.add(node.args[2].value)
    return found


def test_every_recorded_type_is_declared():
    recorded = _recorded_types()
    assert "message.created" in recorded and "report_export.completed" in recorded
    assert recorded <= {t.value for t in EventType}, recorded - {t.value for t in EventType}


def test_channel_names():
    from db.models import Event
    from domain.events import channels

    assert channels.account_channel(3) == "account:3"
    assert channels.conversation_channel(4) == "conversation:4"
    assert channels.contact_channel(5) == "contact:5"
    assert channels.user_channel(3, 6) == "user:3:6"
    assert channels.event_channels(Event(account_id=3, conversation_id=4, contact_id=5)) == [
        "account:3",
        "conversation:4",
        "contact:5",
    ]
    assert channels.event_channels(Event(account_id=3, recipient_user_id=6, conversation_id=4)) == ["user:3:6"]
