"""Enumerations shared by the domain, the models and the schema."""

from enum import StrEnum


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Role(StrEnum):
    ADMINISTRATOR = "administrator"
    AGENT = "agent"


class Availability(StrEnum):
    ONLINE = "online"
    BUSY = "busy"
    OFFLINE = "offline"


class OneTimePurpose(StrEnum):
    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"


class Permission(StrEnum):
    """Chatwoot's custom-role permissions."""

    CONVERSATION_MANAGE = "conversation_manage"
    CONVERSATION_UNASSIGNED_MANAGE = "conversation_unassigned_manage"
    CONVERSATION_PARTICIPATING_MANAGE = "conversation_participating_manage"
    CONTACT_MANAGE = "contact_manage"
    REPORT_MANAGE = "report_manage"
    KNOWLEDGE_BASE_MANAGE = "knowledge_base_manage"
