"""All SQLAlchemy models; importing this package registers every table on Base.metadata."""

from db.base import Base
from db.models.accounts import Account, AccountMembership, Bot, CustomRole, Invitation, User
from db.models.audit import AuditLog, IdempotencyKey, OutboxJob
from db.models.auth import ApiToken, OneTimeToken, RefreshToken, UserSession
from db.models.automation import AutomationRule, AutomationRun, Macro
from db.models.contact_imports import ContactImport
from db.models.helpdesk import (
    Attachment,
    CannedResponse,
    Contact,
    ContactInbox,
    ContactLabel,
    ContactNote,
    Conversation,
    ConversationLabel,
    ConversationParticipant,
    CustomAttributeDefinition,
    Event,
    Inbox,
    InboxMember,
    Label,
    Mention,
    Message,
    Team,
    TeamMember,
)
from db.models.imports import ImportCheckpoint, ImportIdMap, ImportSkip
from db.models.inbound_email import InboundEmail, InboxImap, InboxSmtp
from db.models.notifications import Notification, NotificationSetting
from db.models.partners import PartnerApp, PartnerManifest, PartnerOperation, PartnerToken
from db.models.privacy import ContactDataExport, InstallationSetting
from db.models.reports import CsatResponse, ReportExport, ReportingEvent, ReportingRollup
from db.models.saved_views import SavedView
from db.models.scheduling import ScheduledMessage
from db.models.sla import AppliedSla, SlaPolicy
from db.models.webhooks import DeadJob, Webhook, WebhookAttempt, WebhookDelivery

__all__ = [
    "AutomationRule",
    "AutomationRun",
    "Macro",
    "ImportCheckpoint",
    "ImportIdMap",
    "ImportSkip",
    "InboundEmail",
    "InboxImap",
    "InboxSmtp",
    "Notification",
    "NotificationSetting",
    "DeadJob",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "CsatResponse",
    "ReportExport",
    "ReportingEvent",
    "ReportingRollup",
    "SavedView",
    "ScheduledMessage",
    "AppliedSla",
    "SlaPolicy",
    "Attachment",
    "CannedResponse",
    "Contact",
    "ContactInbox",
    "ContactNote",
    "Conversation",
    "ContactImport",
    "ContactDataExport",
    "InstallationSetting",
    "ContactLabel",
    "ConversationLabel",
    "ConversationParticipant",
    "CustomAttributeDefinition",
    "Event",
    "Inbox",
    "InboxMember",
    "Label",
    "Mention",
    "Message",
    "Team",
    "TeamMember",
    "Account",
    "AccountMembership",
    "ApiToken",
    "AuditLog",
    "Base",
    "Bot",
    "CustomRole",
    "IdempotencyKey",
    "Invitation",
    "OneTimeToken",
    "OutboxJob",
    "PartnerApp",
    "PartnerManifest",
    "PartnerOperation",
    "PartnerToken",
    "RefreshToken",
    "User",
    "UserSession",
]
