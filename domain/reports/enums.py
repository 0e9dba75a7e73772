"""Names shared by the reports' models, services and schema."""

from enum import StrEnum


class ExportStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Metric(StrEnum):
    """Names of reporting events (and of their roll-ups)."""

    CONVERSATION_OPENED = "conversation_opened"
    CONVERSATION_REOPENED = "conversation_reopened"
    CONVERSATION_RESOLVED = "conversation_resolved"
    FIRST_RESPONSE = "first_response"
    REPLY_TIME = "reply_time"
    INCOMING_MESSAGE = "incoming_message"
    OUTGOING_MESSAGE = "outgoing_message"


class Dimension(StrEnum):
    ACCOUNT = "account"
    AGENT = "agent"
    INBOX = "inbox"
    TEAM = "team"
    LABEL = "label"


class GroupBy(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class ExportKind(StrEnum):
    OVERVIEW = "overview"  # one row per day/week/month of the account
    AGENTS = "agents"  # one row per agent over the range
    INBOXES = "inboxes"
    TEAMS = "teams"
    LABELS = "labels"
    EVENTS = "events"  # every raw reporting event of the range (large: streamed in batches)
