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
from resolvers.mutations import mutate
from schema.attachments import inputs as i
from schema.attachments import types as t
from schema.attachments.errors import AttachmentError, AttachmentErrorCode
from schema.core.errors import PayloadErrors
from schema.core.ids import decode_id

Ctx = Info[Context, None]
_errors = PayloadErrors(AttachmentError, AttachmentErrorCode)


def config(info: Ctx) -> attachments.AttachmentConfig:
    return attachments.AttachmentConfig.from_settings(info.context.settings)


def decode_attachment_ids(ids: list[strawberry.ID] | None) -> list[int]:
    return [decode_id(x, "Attachment") for x in ids or []]


async def attachment_upload_create(info: Ctx, input: i.AttachmentUploadCreateInput) -> t.AttachmentUploadCreatePayload:
    actor = await info.context.actor()
    cfg = config(info)

    async def work(session) -> t.AttachmentUploadCreatePayload:
        row, upload = await attachments.create_upload(
            session, cfg, actor, file_name=input.file_name, content_type=input.content_type, byte_size=input.byte_size
        )
        return t.AttachmentUploadCreatePayload(
            attachment=t.Attachment.from_row(row),
            upload=t.PresignedUpload(
                url=upload.url,
                method=upload.method,
                fields=[t.UploadParameter(name=k, value=v) for k, v in upload.fields.items()],
                headers=[t.UploadParameter(name=k, value=v) for k, v in upload.headers.items()],
                expires_at=utcnow() + timedelta(seconds=upload.expires_in),
            ),
            errors=[],
        )

    return await mutate(
        info, _errors, work, lambda e: t.AttachmentUploadCreatePayload(attachment=None, upload=None, errors=e)
    )


async def attachment(info: Ctx, id: strawberry.ID) -> t.Attachment:
    actor = await info.context.actor()
    async with info.context.db() as session:
        row = await repo.attachment_visible(session, actor, decode_id(id, "Attachment"))
    if row is None:
        raise NotFound("No such attachment")
    return t.Attachment.from_row(row)
