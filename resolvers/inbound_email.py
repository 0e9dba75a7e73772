"""Resolver of the received emails' record."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from db.models import InboxImap, InboxSmtp
from db.repositories import inbound_email as repo
from db.repositories.helpdesk import inbox_in_account
from domain import inbox_smtp as smtp_settings
from domain.errors import NotFound
from domain.inbound_email import imap
from resolvers.context import Context
from resolvers.mutations import mutate
from schema.core.errors import PayloadErrors
from schema.core.ids import decode_id
from schema.core.pagination import Connection, build_connection, decode_int_cursor, page_size
from schema.helpdesk.errors import HelpdeskError, HelpdeskErrorCode
from schema.inbound_email import types as t

Ctx = Info[Context, None]
_errors = PayloadErrors(HelpdeskError, HelpdeskErrorCode)
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


async def inbox_imap(
    info: Ctx, inbox_id: Annotated[strawberry.ID, strawberry.argument(description="The email inbox.")]
) -> t.InboxImap | None:
    actor = await info.context.actor()
    pk = decode_id(inbox_id, "Inbox")
    async with info.context.db() as session:
        inbox = await inbox_in_account(session, actor.require_account_id(), pk)
        if inbox is None:
            raise NotFound("No such inbox")
        row = await session.get(InboxImap, pk)
    return t.InboxImap.from_row(row) if row is not None else None


async def inbox_imap_set(
    info: Ctx,
    inbox_id: Annotated[strawberry.ID, strawberry.argument(description="The email inbox.")],
    input: t.InboxImapInput,
) -> t.InboxImapPayload:
    actor = await info.context.actor()
    pk = decode_id(inbox_id, "Inbox")
    data = imap.ImapSettings(
        host=input.host,
        port=input.port,
        ssl=input.ssl,
        username=input.username,
        password=input.password,
        mailbox=input.mailbox,
        enabled=input.enabled,
    )

    async def work(session) -> t.InboxImapPayload:
        row = await imap.configure(session, actor, pk, data, info.context.settings, info.context.meta)
        return t.InboxImapPayload(imap=t.InboxImap.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.InboxImapPayload(imap=None, errors=e))


async def inbox_smtp(
    info: Ctx, inbox_id: Annotated[strawberry.ID, strawberry.argument(description="The email inbox.")]
) -> t.InboxSmtp | None:
    actor = await info.context.actor()
    pk = decode_id(inbox_id, "Inbox")
    async with info.context.db() as session:
        inbox = await inbox_in_account(session, actor.require_account_id(), pk)
        if inbox is None:
            raise NotFound("No such inbox")
        row = await session.get(InboxSmtp, pk)
    return t.InboxSmtp.from_row(row) if row is not None else None


async def inbox_smtp_set(
    info: Ctx,
    inbox_id: Annotated[strawberry.ID, strawberry.argument(description="The email inbox.")],
    input: t.InboxSmtpInput,
) -> t.InboxSmtpPayload:
    actor = await info.context.actor()
    pk = decode_id(inbox_id, "Inbox")
    data = smtp_settings.SmtpSettings(
        host=input.host,
        port=input.port,
        tls_mode=smtp_settings.TlsMode(input.tls_mode.value),
        username=input.username,
        password=input.password,
        enabled=input.enabled,
    )

    async def work(session) -> t.InboxSmtpPayload:
        row = await smtp_settings.configure(session, actor, pk, data, info.context.settings, info.context.meta)
        return t.InboxSmtpPayload(smtp=t.InboxSmtp.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.InboxSmtpPayload(smtp=None, errors=e))
