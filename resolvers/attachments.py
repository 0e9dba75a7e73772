"""Resolvers of attachments: upload requests, one attachment, a message's files and download links."""

from __future__ import annotations

from datetime import timedelta

import strawberry
from strawberry.types import Info

from db.base import utcnow
from db.repositories import attachments as repo
from domain import attachments
from domain.errors import NotFound
from resolvers.context import Context
from resolvers.mutations import in_transaction
from schema import attachments as t
from schema.errors import errors_from
from schema.ids import decode_id

Ctx = Info[Context, None]


def config(info: Ctx) -> attachments.AttachmentConfig:
    return attachments.AttachmentConfig.from_settings(info.context.settings)


def decode_attachment_ids(ids: list[strawberry.ID] | None) -> list[int]:
    return [decode_id(x, "Attachment") for x in ids or []]


async def attachment_upload_create(info: Ctx, input: t.AttachmentUploadCreateInput) -> t.AttachmentUploadCreatePayload:
    actor = await info.context.actor()
    cfg = config(info)

    async def work(session) -> t.AttachmentUploadCreatePayload:
        row, upload = await attachments.create_upload(session, cfg, actor, file_name=input.file_name,
                                                      content_type=input.content_type, byte_size=input.byte_size)
        return t.AttachmentUploadCreatePayload(
            attachment=t.Attachment.from_row(row),
            upload=t.PresignedUpload(
                url=upload.url, method=upload.method,
                fields=[t.UploadParameter(name=k, value=v) for k, v in upload.fields.items()],
                headers=[t.UploadParameter(name=k, value=v) for k, v in upload.headers.items()],
                expires_at=utcnow() + timedelta(seconds=upload.expires_in),
            ),
            errors=[],
        )

    return await in_transaction(
        info, work, lambda e: t.AttachmentUploadCreatePayload(attachment=None, upload=None, errors=e),
        lambda exc: errors_from(exc, t.AttachmentError, t.AttachmentErrorCode),
    )


async def attachment(info: Ctx, id: strawberry.ID) -> t.Attachment:
    actor = await info.context.actor()
    async with info.context.db() as session:
        row = await repo.attachment_visible(session, actor, decode_id(id, "Attachment"))
    if row is None:
        raise NotFound("No such attachment")
    return t.Attachment.from_row(row)


async def message_attachments(info: Ctx, message_pk: int) -> list[t.Attachment]:
    return [t.Attachment.from_row(r) for r in await info.context.loaders.attachments_by_message.load(message_pk)]


async def download_url(info: Ctx, row, inline: bool) -> str | None:
    return await attachments.download_url(config(info), row, inline=inline)
