"""The kinds of notifications (Chatwoot's names), shared by the models, the domain and the schema."""

from enum import StrEnum


class NotificationType(StrEnum):
    CONVERSATION_CREATION = "conversation_creation"
    CONVERSATION_ASSIGNMENT = "conversation_assignment"
    CONVERSATION_MENTION = "conversation_mention"
    ASSIGNED_CONVERSATION_NEW_MESSAGE = "assigned_conversation_new_message"
    PARTICIPATING_CONVERSATION_NEW_MESSAGE = "participating_conversation_new_message"
    SLA_MISSED_FIRST_RESPONSE = "sla_missed_first_response"
    SLA_MISSED_NEXT_RESPONSE = "sla_missed_next_response"
    SLA_MISSED_RESOLUTION = "sla_missed_resolution"
    SLA_WARNING = "sla_warning"
