"""GraphQL types of attachments and their uploads."""

from __future__ import annotations

from datetime import datetime

import strawberry

from db.models.helpdesk import AttachmentStatus
from domain import attachments as service
from domain.enums import FileType
from schema.attachments.errors import AttachmentError
from schema.core.ids import encode_id

FileTypeEnum = strawberry.enum(FileType, name="FileType", description="What kind of file an attachment is.")
AttachmentStatusEnum = strawberry.enum(
    AttachmentStatus,
    name="AttachmentStatus",
    description="PENDING: the upload was granted but the file is on no message yet; ATTACHED: checked and on a message.",
)


@strawberry.type(description="A file on a message.")
class Attachment:
    pk: strawberry.Private[int]
    row: strawberry.Private[object]
    file_type: FileTypeEnum = strawberry.field(description="Image, audio, video or file.")
    file_name: str = strawberry.field(description="The file's name as uploaded (path and control characters removed).")
    byte_size: int = strawberry.field(description="Size in bytes (checked against the stored file before attaching).")
    content_type: str = strawberry.field(
        description="MIME type (checked against the file's first bytes before attaching)."
    )
    width: int | None = strawberry.field(description="Images: width in pixels, when the header gives it.")
    height: int | None = strawberry.field(description="Images: height in pixels, when the header gives it.")
    status: AttachmentStatusEnum = strawberry.field(description="Pending upload or attached to a message.")
    created_at: datetime = strawberry.field(description="When the upload was requested.")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Attachment", self.pk))

    @strawberry.field(
        description="A short-lived download link (minutes; ask again when it expired); null while pending. "
        "`inline: true` lets raster images, audio and video display in the browser; SVG, HTML and documents "
        "are always served as downloads."
    )
    async def download_url(self, info: strawberry.Info, inline: bool = False) -> str | None:
        config = service.AttachmentConfig.from_settings(info.context.settings)
        return await service.download_url(config, self.row, inline=inline)

    @classmethod
    def from_row(cls, row) -> Attachment:
        return cls(
            pk=row.id,
            row=row,
            file_type=row.file_type,
            file_name=row.file_name,
            byte_size=row.byte_size,
            content_type=row.content_type,
            width=row.width,
            height=row.height,
            status=row.status,
            created_at=row.created_at,
        )


@strawberry.type(description="A form field or header of a presigned upload.")
class UploadParameter:
    name: str = strawberry.field(description="Field or header name.")
    value: str = strawberry.field(description="Its value, to send unchanged.")


@strawberry.type(
    description="Where and how to upload the file, straight to storage. POST: a multipart form with every field of "
    "`fields` first and the file last, as `file`. PUT: the file as the body, with every header of `headers`."
)
class PresignedUpload:
    url: str = strawberry.field(description="The upload URL.")
    method: str = strawberry.field(description="POST (form upload) or PUT (raw body).")
    fields: list[UploadParameter] = strawberry.field(description="Form fields to send with a POST, in this order.")
    headers: list[UploadParameter] = strawberry.field(description="Headers to send with a PUT.")
    expires_at: datetime = strawberry.field(description="The upload must start before this time.")


@strawberry.type(description="Result of attachmentUploadCreate.")
class AttachmentUploadCreatePayload:
    attachment: Attachment | None = strawberry.field(
        description="The pending attachment: pass its id in `attachmentIds` of messageCreate after uploading."
    )
    upload: PresignedUpload | None = strawberry.field(description="How to upload the file.")
    errors: list[AttachmentError] = strawberry.field(description="User errors; empty on success.")
