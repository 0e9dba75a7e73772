"""Resolvers of scheduled messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain.errors import BadUserInput
from domain.scheduling import service
from domain.scheduling.enums import ScheduledMessageStatus
from resolvers.context import Context
from resolvers.mutations import mutate
from schema.core.errors import PayloadErrors
from schema.core.ids import decode_id
from schema.core.pagination import Connection, build_connection, decode_cursor, page_size
from schema.scheduling import types as t
from schema.scheduling.errors import ScheduledMessageError, ScheduledMessageErrorCode

Ctx = Info[Context, None]
_errors = PayloadErrors(ScheduledMessageError, ScheduledMessageErrorCode)

ConversationArg = Annotated[strawberry.ID, strawberry.argument(description="The conversation's global ID.")]
StatusArg = Annotated[
    t.ScheduledMessageStatusEnum | None,  # type: ignore[valid-type]
    strawberry.argument(description="Only those with this status (default: all)."),
]
First = Annotated[int | None, strawberry.argument(description="Page size (default 25, at most 100).")]
After = Annotated[str | None, strawberry.argument(description="The endCursor of the previous page.")]
ScheduledID = Annotated[strawberry.ID, strawberry.argument(description="The scheduled message's global ID.")]


def _cursor(row) -> str:
    return f"{row.send_at.isoformat()}|{row.id}"


def _after(cursor: str | None) -> tuple[datetime, int] | None:
    value = decode_cursor(cursor)
    if value is None:
        return None
    at, _, pk = value.partition("|")
    try:
        return datetime.fromisoformat(at), int(pk)
    except ValueError:
        raise BadUserInput("Invalid cursor", field="after") from None


async def scheduled_messages(
    info: Ctx, conversation_id: ConversationArg, status: StatusArg = None, first: First = 25, after: After = None
) -> Connection[t.ScheduledMessage]:
    actor = await info.context.actor()
    limit = page_size(first)
    async with info.context.db() as session:
        rows = await service.page(
            session,
            actor,
            decode_id(conversation_id, "Conversation"),
            status=ScheduledMessageStatus(status) if status is not None else None,
            after=_after(after),
            limit=limit + 1,
        )
    return build_connection(rows, limit, t.ScheduledMessage.from_row, _cursor, after is not None)


def _failed(errors) -> t.ScheduledMessagePayload:
    return t.ScheduledMessagePayload(scheduled_message=None, errors=errors)


def _done(row) -> t.ScheduledMessagePayload:
    return t.ScheduledMessagePayload(scheduled_message=t.ScheduledMessage.from_row(row), errors=[])


async def scheduled_message_create(info: Ctx, input: t.ScheduledMessageCreateInput) -> t.ScheduledMessagePayload:
    actor = await info.context.actor()
    conversation_pk = decode_id(input.conversation_id, "Conversation")

    async def work(session) -> t.ScheduledMessagePayload:
        row = await service.create(
            session, actor, conversation_pk, content=input.content, private=input.private, send_at=input.send_at
        )
        return _done(row)

    return await mutate(info, _errors, work, _failed)


async def scheduled_message_update(
    info: Ctx, id: ScheduledID, input: t.ScheduledMessageUpdateInput
) -> t.ScheduledMessagePayload:
    actor = await info.context.actor()
    pk = decode_id(id, "ScheduledMessage")

    async def work(session) -> t.ScheduledMessagePayload:
        row = await service.update(
            session, actor, pk, content=input.content, private=input.private, send_at=input.send_at
        )
        return _done(row)

    return await mutate(info, _errors, work, _failed)


async def scheduled_message_cancel(info: Ctx, id: ScheduledID) -> t.ScheduledMessagePayload:
    actor = await info.context.actor()
    pk = decode_id(id, "ScheduledMessage")

    async def work(session) -> t.ScheduledMessagePayload:
        return _done(await service.cancel(session, actor, pk))

    return await mutate(info, _errors, work, _failed)
