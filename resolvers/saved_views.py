"""Resolvers of saved views: named filters of the conversation and contact lists."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from domain.filters import saved_views
from domain.filters.conditions import Condition
from domain.filters.enums import ConversationTab, SavedViewKind
from resolvers.context import Context
from resolvers.helpdesk import _errors, _reference
from resolvers.mutations import mutate
from schema.core.ids import decode_id
from schema.helpdesk import inputs as i
from schema.helpdesk import saved_views as v

Ctx = Info[Context, None]


def _view_filter(conditions: list[i.FilterConditionInput], tab: ConversationTab | None) -> saved_views.ViewFilter:
    return saved_views.ViewFilter(
        [Condition(c.attribute_key, c.filter_operator, tuple(c.values), c.query_operator) for c in conditions],
        ConversationTab(tab).value if tab is not None else None,
    )


def _failed(errors) -> v.SavedViewPayload:
    return v.SavedViewPayload(saved_view=None, errors=errors)


async def saved_views_list(info: Ctx, kind: SavedViewKind) -> list[v.SavedView]:
    actor = await info.context.actor()
    async with info.context.db() as session:
        rows = await saved_views.list_views(session, actor, SavedViewKind(kind))
    return [v.SavedView.from_row(r) for r in rows]


async def saved_view_create(info: Ctx, input: v.SavedViewCreateInput) -> v.SavedViewPayload:
    actor = await info.context.actor()

    async def work(session) -> v.SavedViewPayload:
        row = await saved_views.create_view(
            session,
            actor,
            kind=SavedViewKind(input.kind),
            name=input.name,
            view_filter=_view_filter(input.conditions, input.tab),
            account_wide=input.account_wide,
            decode_reference=_reference,
        )
        return v.SavedViewPayload(saved_view=v.SavedView.from_row(row), errors=[])

    return await mutate(info, _errors, work, _failed)


async def saved_view_update(info: Ctx, id: strawberry.ID, input: v.SavedViewUpdateInput) -> v.SavedViewPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "SavedView")

    async def work(session) -> v.SavedViewPayload:
        row = await saved_views.update_view(
            session,
            actor,
            pk,
            name=input.name,
            view_filter=_view_filter(input.conditions, input.tab) if input.conditions is not None else None,
            decode_reference=_reference,
        )
        return v.SavedViewPayload(saved_view=v.SavedView.from_row(row), errors=[])

    return await mutate(info, _errors, work, _failed)


async def saved_view_delete(info: Ctx, id: strawberry.ID) -> v.SavedViewPayload:
    actor = await info.context.actor()
    pk = decode_id(id, "SavedView")

    async def work(session) -> v.SavedViewPayload:
        row = await saved_views.delete_view(session, actor, pk)
        return v.SavedViewPayload(saved_view=v.SavedView.from_row(row), errors=[])

    return await mutate(info, _errors, work, _failed)
