"""Resolvers of the account's auto-resolve setting."""

from __future__ import annotations

from strawberry.types import Info

from db.models import Account
from domain.automatic_messages import service
from resolvers.context import Context
from resolvers.mutations import mutate
from schema.automatic_messages import types as t
from schema.core.errors import PayloadErrors

Ctx = Info[Context, None]
_errors = PayloadErrors(t.AutomaticMessagesError, t.AutomaticMessagesErrorCode)


def _settings(account) -> t.AutoResolveSettings:
    minutes, message = service.auto_resolve_settings(account)
    return t.AutoResolveSettings(after_minutes=minutes, message=message)


async def auto_resolve_settings(info: Ctx) -> t.AutoResolveSettings:
    actor = await info.context.actor()
    async with info.context.db() as session:
        account = await session.get_one(Account, actor.require_account_id())
    return _settings(account)


async def auto_resolve_settings_update(
    info: Ctx, input: t.AutoResolveSettingsUpdateInput
) -> t.AutoResolveSettingsUpdatePayload:
    actor = await info.context.actor()

    async def work(session) -> t.AutoResolveSettingsUpdatePayload:
        account = await service.set_auto_resolve(
            session, actor, after_minutes=input.after_minutes, message=input.message
        )
        return t.AutoResolveSettingsUpdatePayload(settings=_settings(account), errors=[])

    return await mutate(info, _errors, work, lambda e: t.AutoResolveSettingsUpdatePayload(settings=None, errors=e))
