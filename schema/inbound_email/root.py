"""Root field of inbound email, merged into the schema's Query. Administrators only."""

from __future__ import annotations

import strawberry

from domain.accounts.policy import Rule
from resolvers import inbound_email as r
from schema.core.access import field
from schema.core.pagination import Connection
from schema.inbound_email import types as t


@strawberry.type
class InboundEmailQuery:
    inbound_emails: Connection[t.InboundEmail] = field(
        r.inbound_emails,
        Rule.administrator,
        "Every email the account's inboxes received, newest first, with what became of it and why.",
    )
