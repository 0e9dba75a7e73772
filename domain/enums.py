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


class AssignmentPolicy(StrEnum):
    """How auto-assignment picks among an inbox's online agents under capacity."""

    ROUND_ROBIN = "round_robin"  # the agent whose last automatic assignment in the inbox is oldest
    BALANCED = "balanced"  # the agent with the fewest open conversations


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


class ChannelType(StrEnum):
    WEB_WIDGET = "web_widget"
    API = "api"
    EMAIL = "email"


class ConversationStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    SNOOZED = "snoozed"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class MessageType(StrEnum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"
    ACTIVITY = "activity"
    TEMPLATE = "template"


class SenderType(StrEnum):
    USER = "user"
    CONTACT = "contact"
    BOT = "bot"
    SYSTEM = "system"


class ContactType(StrEnum):
    VISITOR = "visitor"
    LEAD = "lead"
    CUSTOMER = "customer"


class FileType(StrEnum):
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    FILE = "file"
    LOCATION = "location"


class AttributeModel(StrEnum):
    CONVERSATION = "conversation"
    CONTACT = "contact"


class AttributeDisplayType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    CURRENCY = "currency"
    PERCENT = "percent"
    LINK = "link"
    DATE = "date"
    LIST = "list"
    CHECKBOX = "checkbox"


class ContactImportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
