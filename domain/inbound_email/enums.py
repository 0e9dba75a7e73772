"""The words of inbound email: which door a mail came through and what became of it."""

from __future__ import annotations

from enum import StrEnum


class InboundSource(StrEnum):
    HTTP = "http"  # POST /mail/inbound (a relay service)
    SMTP = "smtp"  # `parley mail-in` (MX or forwarding)
    IMAP = "imap"  # polling an inbox's mailbox


class InboundStatus(StrEnum):
    PROCESSED = "processed"  # a message in a conversation
    AUTO_REPLY = "auto_reply"  # Auto-Submitted / Precedence: kept on its conversation, never reopening it
    BOUNCE = "bounce"  # a delivery status notification
    DUPLICATE = "duplicate"  # the same Message-ID was received before: no second message
    LOOP = "loop"  # one of our own emails coming back
    REJECTED = "rejected"  # no inbox takes it, or it is too large
    FAILED = "failed"  # the MIME could not be parsed
