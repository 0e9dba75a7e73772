"""Resolver of the received emails' record."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from db.repositories import inbound_email as repo
from resolvers.context import Context
from schema.core.pagination import Connection, build_connection, decode_int_cursor, page_size
from schema.inbound_email import types as t

Ctx = Info[Context, None]
First = Annotated[int | None, strawberry.argument(description="Page size (default 25, at most 100).")]
After = Annotated[str | None, strawberry.argument(description="The `endCursor` of the previous page.")]


async def inbound_emails(info: Ctx, first: First = None, after: After = None) -> Connection[t.InboundEmail]:
    actor = await info.context.actor()
    limit = page_size(first)
    async with info.context.db() as session:
        rows = await repo.of_account(
            session, actor.require_account_id(), limit=limit + 1, before_id=decode_int_cursor(after)
        )
    return build_connection(rows, limit, t.InboundEmail.from_row, lambda r: r.id, after is not None)
