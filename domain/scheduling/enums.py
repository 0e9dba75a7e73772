"""Vocabulary of scheduled messages."""

from __future__ import annotations

from enum import StrEnum


class ScheduledMessageStatus(StrEnum):
    PENDING = "pending"  # waiting for its time; its author may still edit or cancel it
    SENT = "sent"  # the scheduler sent it (`message_id` names the message)
    CANCELLED = "cancelled"  # cancelled by an agent, or by the scheduler with a reason
