"""Types of the installation (super admins only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from schema.accounts.types import AccountStatusEnum, AuditLogEntry
from schema.core.ids import encode_id
from schema.core.pagination import Connection
from schema.installation.errors import InstallationError


@strawberry.type(description="What an account uses, counted now.")
class AccountUsage:
    members: int = strawberry.field(description="Agents and administrators (memberships).")
    conversations: int = strawberry.field(description="Conversations, whatever their status.")
    messages: int = strawberry.field(description="Messages, private notes and activity lines included.")
    storage_bytes: float = strawberry.field(description="Bytes of the account's stored files (attachments).")


@strawberry.type(description="Feature limits of an account; null means no limit.")
class AccountLimits:
    max_agents: int | None = strawberry.field(description="Members, counting invitations still waiting.")
    max_inboxes: int | None = strawberry.field(description="Inboxes.")


@strawberry.type(description="An account as the installation's super admins see it.")
class InstallationAccount:
    pk: strawberry.Private[int]
    name: str = strawberry.field(description="Display name.")
    status: AccountStatusEnum = strawberry.field(description="`suspended` accounts refuse every request.")
    created_at: datetime = strawberry.field(description="When the account was created.")
    limits: AccountLimits = strawberry.field(description="Its feature limits.")
    usage: AccountUsage | None = strawberry.field(description="What it uses (null where not read).")

    @strawberry.field(description="Opaque global ID (the same as the account's own).")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Account", self.pk))

    @classmethod
    def from_row(cls, account, usage: AccountUsage | None = None) -> InstallationAccount:
        return cls(
            pk=account.id,
            name=account.name,
            status=account.status,
            created_at=account.created_at,
            limits=AccountLimits(max_agents=account.max_agents, max_inboxes=account.max_inboxes),
            usage=usage,
        )

    @classmethod
    def from_usage(cls, found) -> InstallationAccount:
        return cls.from_row(
            found.account,
            AccountUsage(
                members=found.members,
                conversations=found.conversations,
                messages=found.messages,
                storage_bytes=float(found.storage_bytes),
            ),
        )


@strawberry.type(description="Installation-wide settings.")
class InstallationSettings:
    signup_enabled: bool = strawberry.field(description="Whether anyone may create an account with accountCreate.")


AccountsFirst = Annotated[int | None, strawberry.argument(description="Page size, at most 100 (default 25).")]
AfterArg = Annotated[str | None, strawberry.argument(description="The cursor to continue after.")]
StatusArg = Annotated[AccountStatusEnum | None, strawberry.argument(description="Only accounts with this status.")]  # type: ignore[valid-type]
SearchArg = Annotated[str | None, strawberry.argument(description="Only accounts whose name contains this.")]


@strawberry.type(description="The installation: every account, its usage and limits, and installation-wide settings.")
class Installation:
    @strawberry.field(description="Accounts by age, oldest first, with their usage (counted in one statement a page).")
    async def accounts(
        self,
        info: strawberry.Info,
        first: AccountsFirst = 25,
        after: AfterArg = None,
        status: StatusArg = None,
        search: SearchArg = None,
    ) -> Connection[InstallationAccount]:
        from resolvers import installation as r

        return await r.accounts(info, first, after, status, search)

    @strawberry.field(description="Installation-wide settings.")
    async def settings(self, info: strawberry.Info) -> InstallationSettings:
        from resolvers import installation as r

        return await r.settings(info)

    @strawberry.field(description="Super-admin actions (`installation.*` audit rows), newest first.")
    async def audit_logs(
        self, info: strawberry.Info, first: AccountsFirst = 25, after: AfterArg = None
    ) -> Connection[AuditLogEntry]:
        from resolvers import installation as r

        return await r.audit_logs(info, first, after)


@strawberry.input(description="Suspend or reactivate an account.")
class InstallationAccountStatusInput:
    account_id: strawberry.ID = strawberry.field(description="The account's global ID.")
    reason: str | None = strawberry.field(default=None, description="Why, kept in the audit log (500 characters).")


@strawberry.input(description="Change an account's feature limits; an omitted field stays, null lifts the limit.")
class InstallationAccountLimitsUpdateInput:
    account_id: strawberry.ID = strawberry.field(description="The account's global ID.")
    max_agents: int | None = strawberry.field(default=strawberry.UNSET, description="0 to 100,000, or null.")
    max_inboxes: int | None = strawberry.field(default=strawberry.UNSET, description="0 to 100,000, or null.")


@strawberry.input(description="Change installation-wide settings; an omitted field stays.")
class InstallationSettingsUpdateInput:
    signup_enabled: bool | None = strawberry.field(default=None, description="Allow sign-ups (accountCreate).")


@strawberry.type(description="The result of an installation account mutation.")
class InstallationAccountPayload:
    account: InstallationAccount | None = strawberry.field(description="The account now.")
    errors: list[InstallationError] = strawberry.field(description="Why nothing changed.")


@strawberry.type(description="The result of installationSettingsUpdate.")
class InstallationSettingsUpdatePayload:
    settings: InstallationSettings | None = strawberry.field(description="The settings now.")
    errors: list[InstallationError] = strawberry.field(description="Why nothing changed.")
