"""Words of automation: the events a rule listens to, the actions, and how a run ended."""

from __future__ import annotations

from enum import StrEnum


class Trigger(StrEnum):
    """Chatwoot's automation `event_name`s."""

    CONVERSATION_CREATED = "conversation_created"
    CONVERSATION_UPDATED = "conversation_updated"
    CONVERSATION_OPENED = "conversation_opened"
    CONVERSATION_RESOLVED = "conversation_resolved"
    MESSAGE_CREATED = "message_created"


class ActionName(StrEnum):
    """Chatwoot's automation and macro `action_name`s (domain/automation/actions.py runs them)."""

    ASSIGN_AGENT = "assign_agent"
    ASSIGN_TEAM = "assign_team"
    ADD_LABEL = "add_label"
    REMOVE_LABEL = "remove_label"
    CHANGE_PRIORITY = "change_priority"
    CHANGE_STATUS = "change_status"
    SNOOZE_CONVERSATION = "snooze_conversation"
    RESOLVE_CONVERSATION = "resolve_conversation"
    SEND_MESSAGE = "send_message"
    ADD_PRIVATE_NOTE = "add_private_note"
    SEND_EMAIL_TO_TEAM = "send_email_to_team"
    SEND_WEBHOOK_EVENT = "send_webhook_event"
    MUTE_CONVERSATION = "mute_conversation"
    APPLY_SLA = "apply_sla"


class RunOutcome(StrEnum):
    """How one rule met one event."""

    DONE = "done"  # the conditions matched and every action ran
    NOT_MATCHED = "not_matched"  # the conditions did not match: nothing ran
    FAILED = "failed"  # an action failed: nothing the rule did was kept
    SKIPPED = "skipped"  # the per-conversation guard held it back
