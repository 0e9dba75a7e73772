"""Root field of inbound email, merged into the schema's Query. Administrators only."""

from __future__ import annotations

import strawberry

from domain.accounts.policy import Rule
from resolvers import inbound_email as r
from schema.core.access import field, mutation
from schema.core.pagination import Connection
from schema.inbound_email import types as t


@strawberry.type
class InboundEmailQuery:
    inbound_emails: Connection[t.InboundEmail] = field(
        r.inbound_emails,
        Rule.administrator,
        "Every email the account's inboxes received, newest first, with what became of it and why.",
    )
    inbox_imap: t.InboxImap | None = field(
        r.inbox_imap, Rule.administrator, "An email inbox's IMAP mailbox and its polling state; null when it has none."
    )
    inbox_smtp: t.InboxSmtp | None = field(
        r.inbox_smtp,
        Rule.administrator,
        "An email inbox's own outgoing SMTP server; null when it uses the installation's.",
    )


@strawberry.type
class InboundEmailMutation:
    inbox_imap_set: t.InboxImapPayload = mutation(
        r.inbox_imap_set,
        Rule.administrator,
        "Read an email inbox's customer mail from an IMAP mailbox (polled; the password is stored encrypted).",
    )
    inbox_smtp_set: t.InboxSmtpPayload = mutation(
        r.inbox_smtp_set,
        Rule.administrator,
        "Send an email inbox's replies through its own SMTP server (the password is stored encrypted).",
    )
