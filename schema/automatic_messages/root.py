"""Root fields of the account's auto-resolve setting."""

from __future__ import annotations

import strawberry

from domain.accounts.policy import Rule
from resolvers import automatic_messages as r
from schema.automatic_messages import types as t
from schema.core.access import field, mutation


@strawberry.type
class AutomaticMessagesQuery:
    auto_resolve_settings: t.AutoResolveSettings = field(
        r.auto_resolve_settings, Rule.agent, "The account's auto-resolve setting (any agent may read it)."
    )


@strawberry.type
class AutomaticMessagesMutation:
    auto_resolve_settings_update: t.AutoResolveSettingsUpdatePayload = mutation(
        r.auto_resolve_settings_update,
        Rule.administrator,
        "Set how long an open conversation may stay idle before it is resolved, and the message sent then "
        "(administrators).",
    )
