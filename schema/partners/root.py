"""Root fields of partner apps and of the caller's rate limit, merged into the schema's Query and Mutation."""

from __future__ import annotations

import strawberry

from domain.accounts.policy import Rule
from resolvers import partners as r
from schema.core.access import access, field, mutation
from schema.partners import types as t


@strawberry.type
class PartnersQuery:
    partner_apps: list[t.PartnerApp] = field(
        r.partner_apps, Rule.administrator, "The account's partner apps with their tokens and manifest versions."
    )
    rate_limit: t.RateLimit | None = strawberry.field(
        resolver=r.rate_limit,
        description="Your query cost budget: what this query cost and what is left this hour (free of charge). "
        "Null when no budget applies.",
        extensions=access(Rule.public),
        metadata={"cost": 0},
    )


@strawberry.type
class PartnersMutation:
    partner_app_create: t.PartnerAppPayload = mutation(
        r.partner_app_create, Rule.administrator, "Create a partner app; give it tokens and upload its manifest."
    )
    partner_app_update: t.PartnerAppPayload = mutation(
        r.partner_app_update, Rule.administrator, "Rename, describe, disable or enable a partner app."
    )
    partner_token_create: t.PartnerTokenCreatePayload = mutation(
        r.partner_token_create,
        Rule.administrator,
        "Create a partner app's token (`plya_…`). The secret is returned once.",
    )
    partner_token_revoke: t.PartnerTokenRevokePayload = mutation(
        r.partner_token_revoke, Rule.administrator, "Revoke a partner app's token."
    )
    partner_manifest_upload: t.PartnerManifestUploadPayload = mutation(
        r.partner_manifest_upload,
        Rule.administrator,
        "Upload a new version of a partner app's manifest (Apollo or Relay format) and make it current. "
        "Operations that do not validate against the schema are reported.",
    )
    partner_manifest_activate: t.PartnerAppPayload = mutation(
        r.partner_manifest_activate, Rule.administrator, "Make another uploaded manifest version the current one."
    )
