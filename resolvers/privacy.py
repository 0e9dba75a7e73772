"""Resolvers of the privacy duties: parse input, call one domain service, build the result."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from domain.privacy import erasure, export, retention
from resolvers.context import Context
from resolvers.mutations import mutate
from schema.core.errors import PayloadErrors
from schema.core.ids import decode_id
from schema.helpdesk.types import Contact
from schema.privacy import types as t
from schema.privacy.errors import PrivacyError, PrivacyErrorCode

Ctx = Info[Context, None]
_errors = PayloadErrors(PrivacyError, PrivacyErrorCode)

ContactArg = Annotated[strawberry.ID, strawberry.argument(description="The contact's global ID.")]
ExportArg = Annotated[strawberry.ID, strawberry.argument(description="The export's global ID.")]


async def contact_data_export(info: Ctx, contact_id: ContactArg) -> t.ContactDataExportPayload:
    actor = await info.context.actor()
    pk = decode_id(contact_id, "Contact")

    async def work(session) -> t.ContactDataExportPayload:
        row = await export.request(session, actor, pk, info.context.meta)
        return t.ContactDataExportPayload(contact_data_export=t.ContactDataExport.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.ContactDataExportPayload(contact_data_export=None, errors=e))


async def contact_data_export_job(info: Ctx, id: ExportArg) -> t.ContactDataExport:
    from domain.storage import get_storage

    actor = await info.context.actor()
    settings = info.context.settings
    async with info.context.db() as session:
        row = await export.visible(session, actor, decode_id(id, "ContactDataExport"))
    url = await export.download_url(get_storage(settings), row, settings.reports_export_url_expires_seconds)
    return t.ContactDataExport.from_row(row, url)


async def contact_erase(info: Ctx, contact_id: ContactArg) -> t.ContactErasePayload:
    actor = await info.context.actor()
    pk = decode_id(contact_id, "Contact")

    async def work(session) -> t.ContactErasePayload:
        row = await erasure.erase_contact(session, actor, pk, info.context.meta)
        return t.ContactErasePayload(contact=Contact.from_row(row), erased_at=row.erased_at, errors=[])

    return await mutate(info, _errors, work, lambda e: t.ContactErasePayload(contact=None, erased_at=None, errors=e))


async def retention_policy(info: Ctx) -> t.RetentionPolicy:
    from db.repositories import installation as repo

    actor = await info.context.actor()
    async with info.context.db() as session:
        account = await repo.account(session, actor.require_account_id())
    assert account is not None
    return t.RetentionPolicy.from_row(account)


async def retention_policy_update(info: Ctx, input: t.RetentionPolicyUpdateInput) -> t.RetentionPolicyUpdatePayload:
    actor = await info.context.actor()
    changes = {
        name: value
        for name, value in (("message_days", input.message_days), ("attachment_days", input.attachment_days))
        if value is not strawberry.UNSET
    }

    async def work(session) -> t.RetentionPolicyUpdatePayload:
        account = await retention.update_policy(session, actor, meta=info.context.meta, **changes)
        return t.RetentionPolicyUpdatePayload(retention_policy=t.RetentionPolicy.from_row(account), errors=[])

    return await mutate(info, _errors, work, lambda e: t.RetentionPolicyUpdatePayload(retention_policy=None, errors=e))
