"""Root fields of the installation, merged into the schema's Query and Mutation. Super admins only
(`users.is_super_admin`, granted with `parley superadmin grant EMAIL`); anyone else gets FORBIDDEN."""

from __future__ import annotations

import strawberry

from domain.accounts.policy import Rule
from resolvers import installation as r
from schema.core.access import field, mutation
from schema.installation import types as t


@strawberry.type
class InstallationQuery:
    installation: t.Installation = field(
        r.installation, Rule.super_admin, "The installation: accounts with usage and limits, settings, audit log."
    )


@strawberry.type
class InstallationMutation:
    installation_account_suspend: t.InstallationAccountPayload = mutation(
        r.installation_account_suspend,
        Rule.super_admin,
        "Suspend an account: its users, bots and tokens get ACCOUNT_SUSPENDED from the next request on, in every "
        "process, and its members cannot sign in. Audited. Errors: NOT_FOUND, TOO_LONG (reason).",
    )
    installation_account_reactivate: t.InstallationAccountPayload = mutation(
        r.installation_account_reactivate,
        Rule.super_admin,
        "Reactivate a suspended account. Audited. Errors: NOT_FOUND.",
    )
    installation_account_limits_update: t.InstallationAccountPayload = mutation(
        r.installation_account_limits_update,
        Rule.super_admin,
        "Set an account's feature limits (max agents, max inboxes); adding past one is refused with LIMIT_REACHED, "
        "nothing already there is removed. Audited. Errors: NOT_FOUND, OUT_OF_RANGE.",
    )
    installation_settings_update: t.InstallationSettingsUpdatePayload = mutation(
        r.installation_settings_update,
        Rule.super_admin,
        "Change installation-wide settings (whether sign-ups are allowed). Audited.",
    )
