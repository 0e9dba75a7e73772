"""Resolvers of notifications and notification settings: always the caller's own, in the current account."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from domain.errors import NotFound, ValidationError
from domain.notification_types import NotificationType
from domain.notifications import service
from resolvers.context import Context
from resolvers.mutations import mutate
from schema.core.errors import PayloadErrors
from schema.core.ids import decode_id
from schema.core.pagination import Connection, build_connection, decode_int_cursor, page_size
from schema.notifications import inputs as i
from schema.notifications import types as t
from schema.notifications.errors import NotificationError, NotificationErrorCode

Ctx = Info[Context, None]
_errors = PayloadErrors(NotificationError, NotificationErrorCode)

First = Annotated[int | None, strawberry.argument(description="Page size: default 25, at most 100.")]
After = Annotated[str | None, strawberry.argument(description="The `endCursor` of the previous page.")]
UnreadOnly = Annotated[bool, strawberry.argument(description="Only unread notifications.")]


def _settings(prefs: service.Preferences) -> list[t.NotificationSetting]:
    return [
        t.NotificationSetting(notification_type=kind, in_app=kind in prefs.in_app, email=kind in prefs.email)
        for kind in NotificationType
    ]


# --- queries -------------------------------------------------------------------------------------------


async def notifications(
    info: Ctx, first: First = 25, after: After = None, unread_only: UnreadOnly = False
) -> Connection[t.Notification]:
    actor = await info.context.actor()
    limit = page_size(first)
    before_id = decode_int_cursor(after)
    async with info.context.db() as session:
        rows = await service.page(session, actor, unread_only=unread_only, before_id=before_id, limit=limit + 1)
    return build_connection(rows, limit, t.Notification.from_row, lambda r: r.id, after is not None)


async def notification_unread_count(info: Ctx) -> int:
    actor = await info.context.actor()
    async with info.context.db() as session:
        return await service.unread_count(session, actor)


async def notification_settings(info: Ctx) -> list[t.NotificationSetting]:
    actor = await info.context.actor()
    async with info.context.db() as session:
        return _settings(await service.preferences(session, actor))


# --- mutations -----------------------------------------------------------------------------------------


async def notification_mark_read(info: Ctx, input: i.NotificationMarkReadInput) -> t.NotificationMarkReadPayload:
    actor = await info.context.actor()

    async def work(session) -> t.NotificationMarkReadPayload:
        try:
            ids = [decode_id(x, "Notification") for x in input.ids]
        except NotFound:
            raise ValidationError.single("ids", "NOT_FOUND", "No such notification.") from None
        rows = await service.mark_read(session, actor, ids)
        count = await service.unread_count(session, actor)
        return t.NotificationMarkReadPayload(
            notifications=[t.Notification.from_row(r) for r in rows], unread_count=count, errors=[]
        )

    return await mutate(
        info, _errors, work, lambda e: t.NotificationMarkReadPayload(notifications=None, unread_count=None, errors=e)
    )


async def notification_mark_all_read(info: Ctx) -> t.NotificationMarkAllReadPayload:
    actor = await info.context.actor()

    async def work(session) -> t.NotificationMarkAllReadPayload:
        marked = await service.mark_all_read(session, actor)
        return t.NotificationMarkAllReadPayload(
            marked_count=marked, unread_count=await service.unread_count(session, actor), errors=[]
        )

    return await mutate(
        info, _errors, work, lambda e: t.NotificationMarkAllReadPayload(marked_count=0, unread_count=0, errors=e)
    )


async def notification_delete(info: Ctx, input: i.NotificationDeleteInput) -> t.NotificationDeletePayload:
    actor = await info.context.actor()
    pk = decode_id(input.id, "Notification")

    async def work(session) -> t.NotificationDeletePayload:
        row = await service.delete(session, actor, pk)
        return t.NotificationDeletePayload(
            notification=t.Notification.from_row(row),
            unread_count=await service.unread_count(session, actor),
            errors=[],
        )

    return await mutate(
        info, _errors, work, lambda e: t.NotificationDeletePayload(notification=None, unread_count=None, errors=e)
    )


def _keep(value: Any) -> Any:
    return service.KEEP if value is strawberry.UNSET else value


async def notification_settings_update(
    info: Ctx, input: i.NotificationSettingsUpdateInput
) -> t.NotificationSettingsUpdatePayload:
    actor = await info.context.actor()
    changes = [
        service.SettingChange(type=NotificationType(s.notification_type), in_app=_keep(s.in_app), email=_keep(s.email))
        for s in input.settings
    ]

    async def work(session) -> t.NotificationSettingsUpdatePayload:
        prefs = await service.update_preferences(session, actor, changes)
        return t.NotificationSettingsUpdatePayload(settings=_settings(prefs), errors=[])

    return await mutate(info, _errors, work, lambda e: t.NotificationSettingsUpdatePayload(settings=None, errors=e))
