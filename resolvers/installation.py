"""Resolvers of the installation (super admins): parse input, call one domain service, build the result."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from db.repositories import installation as repo
from domain.enums import AccountStatus
from domain.installation import service
from domain.installation import settings as installation_settings
from resolvers.context import Context
from resolvers.mutations import mutate
from resolvers.sockets import account_revocation
from schema.accounts.types import AuditLogEntry
from schema.core.errors import PayloadErrors
from schema.core.ids import decode_id
from schema.core.pagination import Connection, build_connection, decode_int_cursor, page_size
from schema.installation import types as t
from schema.installation.errors import InstallationError, InstallationErrorCode

Ctx = Info[Context, None]
_errors = PayloadErrors(InstallationError, InstallationErrorCode)


async def installation(info: Ctx) -> t.Installation:
    service.require_super_admin(await info.context.actor())
    return t.Installation()


async def accounts(
    info: Any, first: int | None, after: str | None, status: AccountStatus | None, search: str | None
) -> Connection[t.InstallationAccount]:
    actor = await info.context.actor()
    limit = page_size(first)
    after_id = decode_int_cursor(after)
    async with info.context.db() as session:
        rows = await service.accounts(
            session, actor, after_id=after_id, limit=limit + 1, status=status, search=(search or "").strip() or None
        )
    return build_connection(rows, limit, t.InstallationAccount.from_usage, lambda r: r.account.id, after is not None)


async def settings(info: Any) -> t.InstallationSettings:
    service.require_super_admin(await info.context.actor())
    async with info.context.db() as session:
        current = await installation_settings.current(session, signup_default=info.context.settings.signup_enabled)
    return t.InstallationSettings(signup_enabled=current.signup_enabled)


async def audit_logs(info: Any, first: int | None, after: str | None) -> Connection[AuditLogEntry]:
    service.require_super_admin(await info.context.actor())
    limit = page_size(first)
    before_id = decode_int_cursor(after)
    async with info.context.db() as session:
        rows = await repo.installation_audit_page(session, before_id=before_id, limit=limit + 1)
    return build_connection(rows, limit, AuditLogEntry.from_row, lambda r: r.id, after is not None)


def _account_id(value: strawberry.ID) -> int:
    return decode_id(value, "Account")


async def _set_status(info: Ctx, input: t.InstallationAccountStatusInput, status: AccountStatus):
    actor = await info.context.actor()
    pk = _account_id(input.account_id)

    async def work(session) -> t.InstallationAccountPayload:
        account = await service.set_status(session, actor, pk, status, input.reason, info.context.meta)
        if status == AccountStatus.SUSPENDED:
            # Open sockets of the account (agents, bots, widget visitors) close as the change commits.
            info.context.revoked_session_ids.append(account_revocation(account.id))
        return t.InstallationAccountPayload(account=t.InstallationAccount.from_row(account), errors=[])

    return await mutate(info, _errors, work, lambda e: t.InstallationAccountPayload(account=None, errors=e))


async def installation_account_suspend(
    info: Ctx, input: t.InstallationAccountStatusInput
) -> t.InstallationAccountPayload:
    return await _set_status(info, input, AccountStatus.SUSPENDED)


async def installation_account_reactivate(
    info: Ctx, input: t.InstallationAccountStatusInput
) -> t.InstallationAccountPayload:
    return await _set_status(info, input, AccountStatus.ACTIVE)


async def installation_account_limits_update(
    info: Ctx, input: t.InstallationAccountLimitsUpdateInput
) -> t.InstallationAccountPayload:
    actor = await info.context.actor()
    pk = _account_id(input.account_id)
    changes = {
        name: value
        for name, value in (("max_agents", input.max_agents), ("max_inboxes", input.max_inboxes))
        if value is not strawberry.UNSET
    }

    async def work(session) -> t.InstallationAccountPayload:
        account = await service.update_limits(session, actor, pk, meta=info.context.meta, **changes)
        return t.InstallationAccountPayload(account=t.InstallationAccount.from_row(account), errors=[])

    return await mutate(info, _errors, work, lambda e: t.InstallationAccountPayload(account=None, errors=e))


async def installation_settings_update(
    info: Ctx, input: t.InstallationSettingsUpdateInput
) -> t.InstallationSettingsUpdatePayload:
    actor = await info.context.actor()

    async def work(session) -> t.InstallationSettingsUpdatePayload:
        current = await service.update_settings(
            session,
            actor,
            signup_enabled=input.signup_enabled,
            signup_default=info.context.settings.signup_enabled,
            meta=info.context.meta,
        )
        return t.InstallationSettingsUpdatePayload(
            settings=t.InstallationSettings(signup_enabled=current.signup_enabled), errors=[]
        )

    return await mutate(info, _errors, work, lambda e: t.InstallationSettingsUpdatePayload(settings=None, errors=e))
