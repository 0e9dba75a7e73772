"""Attachments: presigned uploads straight to storage, verification before a file joins a message,
short-lived download links, and removal of stored objects (deleted messages and contacts, orphans).

The flow: `create_upload` checks the limits (size cap, Chatwoot's allowed types) and answers with a
pending attachment and a presigned upload; the client uploads; `verify` (called by message
creation) HEADs the object and sniffs its first bytes, so the real size and type must match what
was declared before `link` joins it to the message. SVG, HTML and anything not known to be safe is
never served inline."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Attachment, Message
from db.models.helpdesk import AttachmentStatus
from db.repositories import attachments as repo
from domain.accounts.actor import Actor
from domain.enums import FileType
from domain.errors import FieldError, ValidationError
from domain.events import outbox
from domain.storage import PresignedUpload, Storage, StorageError, get_storage
from domain.storage import sniff as s

if TYPE_CHECKING:
    from infra.settings import Settings

MAX_PER_MESSAGE = 15  # Chatwoot's cap
ORPHAN_AGE = timedelta(days=1)
DELETE_BATCH = 500  # keys per cleanup job
OCTET_STREAM = "application/octet-stream"

# Allowed content types (Chatwoot's list: images, audio, video, documents) -> what the bytes may be.
_IMAGES = {
    "image/png": {s.PNG},
    "image/jpeg": {s.JPEG},
    "image/jpg": {s.JPEG},
    "image/gif": {s.GIF},
    "image/webp": {s.WEBP},
    "image/bmp": {s.BMP},
    "image/tiff": {s.TIFF},
    "image/svg+xml": {s.SVG},
    "image/heic": {s.HEIC},
    "image/heif": {s.HEIC},
    "image/avif": {s.HEIC},
    "image/x-icon": {s.ICO},
    "image/vnd.microsoft.icon": {s.ICO},
}
_AUDIO = {
    "audio/mpeg": {s.MP3},
    "audio/mp3": {s.MP3},
    "audio/ogg": {s.OGG},
    "audio/opus": {s.OGG},
    "audio/wav": {s.WAV},
    "audio/x-wav": {s.WAV},
    "audio/wave": {s.WAV},
    "audio/webm": {s.WEBM},
    "audio/mp4": {s.MP4, s.AAC},
    "audio/x-m4a": {s.MP4},
    "audio/m4a": {s.MP4},
    "audio/aac": {s.AAC, s.MP4},
    "audio/flac": {s.FLAC},
    "audio/amr": {s.AMR},
    "audio/3gpp": {s.MP4},
}
_VIDEO = {
    "video/mp4": {s.MP4},
    "video/quicktime": {s.MP4},
    "video/3gpp": {s.MP4},
    "video/x-m4v": {s.MP4},
    "video/webm": {s.WEBM},
    "video/ogg": {s.OGG},
    "video/x-msvideo": {s.AVI},
    "video/mpeg": {s.MPEG},
    "video/x-flv": {s.FLV},
}
_OOXML = "application/vnd.openxmlformats-officedocument."
_TEXT = {s.TEXT, s.HTML, s.SVG}
_DOCUMENTS = {
    # Text that happens to hold markup is still text: it is only ever served as a download.
    "application/pdf": {s.PDF},
    "text/plain": _TEXT,
    "text/csv": _TEXT,
    "application/json": _TEXT,
    "text/rtf": {s.RTF},
    "application/rtf": {s.RTF},
    "application/zip": {s.ZIP},
    "application/x-zip-compressed": {s.ZIP},
    "application/x-7z-compressed": {s.SEVEN_Z},
    "application/vnd.rar": {s.RAR},
    "application/x-rar-compressed": {s.RAR},
    "application/x-tar": {s.TAR},
    "application/gzip": {s.GZIP},
    "application/msword": {s.OLE},
    "application/vnd.ms-excel": {s.OLE},
    "application/vnd.ms-powerpoint": {s.OLE},
    _OOXML + "wordprocessingml.document": {s.ZIP},
    _OOXML + "spreadsheetml.sheet": {s.ZIP},
    _OOXML + "presentationml.presentation": {s.ZIP},
    "application/vnd.oasis.opendocument.text": {s.ZIP},
    "application/vnd.oasis.opendocument.spreadsheet": {s.ZIP},
    "application/vnd.oasis.opendocument.presentation": {s.ZIP},
}
ALLOWED_TYPES: dict[str, set[str]] = {**_IMAGES, **_AUDIO, **_VIDEO, **_DOCUMENTS}
# Rendered inline only when asked, and only these: raster images, audio and video. SVG (scripts
# run when opened from our origin, CVE-2021-3741), HTML and documents are always downloads.
INLINE_SAFE = {
    "image/png",
    "image/jpeg",
    "image/jpg",
    "image/gif",
    "image/webp",
    "image/bmp",
    "image/avif",
    *_AUDIO,
    *_VIDEO,
}
_FILE_NAME_BAD = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass(frozen=True)
class AttachmentConfig:
    storage: Storage
    max_bytes: int
    upload_expires_in: int = 600
    download_expires_in: int = 300

    @classmethod
    def from_settings(cls, settings: Settings) -> AttachmentConfig:
        return cls(
            storage=get_storage(settings),
            max_bytes=settings.storage_max_upload_bytes,
            upload_expires_in=settings.storage_upload_expires_seconds,
            download_expires_in=settings.storage_download_expires_seconds,
        )


def normalize_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def file_type_of(content_type: str) -> FileType:
    major = content_type.split("/")[0]
    return {"image": FileType.IMAGE, "audio": FileType.AUDIO, "video": FileType.VIDEO}.get(major, FileType.FILE)


def clean_file_name(file_name: str) -> str:
    """The last path component, NFC, without control characters, at most 255 characters (the
    extension kept)."""
    name = unicodedata.normalize("NFC", file_name).replace("\\", "/").rsplit("/", 1)[-1]
    name = _FILE_NAME_BAD.sub("", name).strip().strip(".")
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 254 - len(ext)] + dot + ext) if dot and len(ext) <= 16 else name[:255]
    return name


def _upload_errors(file_name: str, content_type: str, byte_size: int, max_bytes: int) -> list[FieldError]:
    errors = []
    if not file_name:
        errors.append(FieldError("fileName", "REQUIRED", "Give the file's name."))
    if content_type not in ALLOWED_TYPES:
        errors.append(
            FieldError(
                "contentType",
                "UNSUPPORTED_TYPE",
                "This type of file cannot be attached: use images, audio, video or documents.",
            )
        )
    if byte_size < 1:
        errors.append(FieldError("byteSize", "INVALID", "The file is empty."))
    elif byte_size > max_bytes:
        errors.append(FieldError("byteSize", "TOO_LARGE", f"Files can be at most {max_bytes // (1024 * 1024)} MB."))
    return errors


async def create_upload(
    session: AsyncSession,
    config: AttachmentConfig,
    actor: Actor,
    *,
    file_name: str,
    content_type: str,
    byte_size: int,
    uploader_contact_id: int | None = None,
) -> tuple[Attachment, PresignedUpload]:
    """A pending attachment and the presigned upload for it (POST form fields on S3, a PUT on the
    local backend). Nothing joins a message until `verify` has checked what was stored."""
    name, ctype = clean_file_name(file_name), normalize_type(content_type)
    errors = _upload_errors(name, ctype, byte_size, config.max_bytes)
    if errors:
        raise ValidationError(errors)
    key = f"accounts/{actor.account_id}/attachments/{uuid.uuid4().hex}"
    attachment = Attachment(
        account_id=actor.account_id,
        file_type=file_type_of(ctype),
        file_name=name,
        content_type=ctype,
        byte_size=byte_size,
        storage_key=key,
        status=AttachmentStatus.PENDING,
        created_at=utcnow(),
        uploader_user_id=None if uploader_contact_id is not None else actor.user_id,
        uploader_contact_id=uploader_contact_id,
    )
    session.add(attachment)
    await session.flush()
    upload = await config.storage.presign_upload(
        key, content_type=ctype, max_bytes=byte_size, expires_in=config.upload_expires_in
    )
    return attachment, upload


async def verify(
    session: AsyncSession,
    config: AttachmentConfig,
    account_id: int,
    attachment_ids: Sequence[int],
    *,
    uploader_user_id: int | None = None,
    uploader_contact_id: int | None = None,
    field: str = "attachmentIds",
) -> list[Attachment]:
    """Lock the pending uploads and check each stored object: it exists, its size is the declared
    one and its first bytes are of the declared type. Uploads of another account, already on a
    message, or of someone else (another agent, another contact) are simply not found."""
    ids = list(dict.fromkeys(attachment_ids))
    if len(ids) > MAX_PER_MESSAGE:
        raise ValidationError.single(field, "TOO_MANY", f"A message holds at most {MAX_PER_MESSAGE} attachments.")
    if not ids:
        return []
    rows = await repo.attachments_for_update(session, account_id, ids)
    errors: list[FieldError] = []
    found: list[Attachment] = []
    for index, pk in enumerate(ids):
        where = f"{field}.{index}"
        row = rows.get(pk)
        if (
            row is None
            or row.uploader_contact_id != uploader_contact_id
            or (uploader_contact_id is None and row.uploader_user_id != uploader_user_id)
        ):
            errors.append(FieldError(where, "NOT_FOUND", "No such upload."))
            continue
        if row.message_id is not None or row.status == AttachmentStatus.ATTACHED:
            errors.append(FieldError(where, "ALREADY_ATTACHED", "This file is already on a message."))
            continue
        problem = await _check_object(config.storage, row)
        if problem is not None:
            errors.append(FieldError(where, *problem))
            continue
        found.append(row)
    if errors:
        raise ValidationError(errors)
    return found


async def _check_object(storage: Storage, row: Attachment) -> tuple[str, str] | None:
    try:
        stored = await storage.head(row.storage_key)
        if stored is None:
            return "NOT_UPLOADED", "The file has not been uploaded yet."
        if stored.byte_size != row.byte_size:
            return "SIZE_MISMATCH", f"The uploaded file has {stored.byte_size} bytes, not the {row.byte_size} declared."
        if stored.content_type and normalize_type(stored.content_type) != row.content_type:
            return "TYPE_MISMATCH", "The uploaded file's type differs from the one declared."
        head = await storage.read_prefix(row.storage_key, min(row.byte_size, s.SNIFF_BYTES))
    except StorageError:
        return "NOT_UPLOADED", "The file could not be read from storage; upload it again."
    kind = s.sniff(head)
    if kind not in ALLOWED_TYPES.get(row.content_type, set()):
        return "TYPE_MISMATCH", "The file's content is not of the type declared."
    size = s.dimensions(kind, head)
    if size is not None:
        row.width, row.height = size
    return None


async def store_received(
    session: AsyncSession,
    config: AttachmentConfig,
    message: Message,
    *,
    file_name: str,
    content_type: str,
    data: bytes,
    uploader_contact_id: int | None,
) -> Attachment | None:
    """A file that arrived with a message (an email's attachment): stored through the storage
    interface and attached at once. Its type is the declared one only when it is allowed and its
    first bytes agree; anything else is kept as an opaque download. None when it is empty or too large."""
    if not data or len(data) > config.max_bytes:
        return None
    name = clean_file_name(file_name) or "attachment"
    ctype = normalize_type(content_type)
    if ctype not in ALLOWED_TYPES or s.sniff(data[: s.SNIFF_BYTES]) not in ALLOWED_TYPES[ctype]:
        ctype = OCTET_STREAM
    key = f"accounts/{message.account_id}/attachments/{uuid.uuid4().hex}"

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    await config.storage.put_stream(key, chunks(), content_type=ctype)
    attachment = Attachment(
        account_id=message.account_id,
        message_id=message.id,
        file_type=file_type_of(ctype),
        file_name=name,
        content_type=ctype,
        byte_size=len(data),
        storage_key=key,
        status=AttachmentStatus.ATTACHED,
        created_at=utcnow(),
        uploader_contact_id=uploader_contact_id,
    )
    size = s.dimensions(s.sniff(data[: s.SNIFF_BYTES]), data[: s.SNIFF_BYTES])
    if size is not None:
        attachment.width, attachment.height = size
    session.add(attachment)
    return attachment


def link(attachments: Sequence[Attachment], message: Message) -> None:
    for attachment in attachments:
        attachment.message_id = message.id
        attachment.status = AttachmentStatus.ATTACHED


async def download_url(config: AttachmentConfig, attachment: Attachment, *, inline: bool = False) -> str | None:
    """A short-lived link; inline only for types that are safe to render, anything unknown is
    served as an opaque download. None while the upload is pending."""
    if attachment.status != AttachmentStatus.ATTACHED:
        return None
    ctype = attachment.content_type if attachment.content_type in ALLOWED_TYPES else OCTET_STREAM
    return await config.storage.download_url(
        attachment.storage_key,
        file_name=attachment.file_name,
        content_type=ctype,
        expires_in=config.download_expires_in,
        inline=inline and ctype in INLINE_SAFE,
    )


# --- removal ---------------------------------------------------------------------------------------


def _queue_deletes(session: AsyncSession, keys: Sequence[str]) -> None:
    for start in range(0, len(keys), DELETE_BATCH):
        outbox.add_job(session, "attachments.delete_objects", keys=list(keys[start : start + DELETE_BATCH]))


async def _remove(session: AsyncSession, rows: Sequence[tuple[int, str]]) -> int:
    """Delete these (id, storage key) rows now and their stored objects through a job after commit."""
    if not rows:
        return 0
    await repo.delete_attachments(session, [pk for pk, _ in rows])
    _queue_deletes(session, [key for _, key in rows])
    return len(rows)


async def remove_rows(session: AsyncSession, rows: Sequence[tuple[int, str]]) -> int:
    """Retention and erasure: these (id, storage key) rows go now, their objects through a job after commit."""
    return await _remove(session, rows)


async def remove_for_messages(session: AsyncSession, account_id: int, message_ids: Sequence[int]) -> int:
    """A deleted message loses its files: rows go now, stored objects through a job after commit."""
    if not message_ids:
        return 0
    return await _remove(session, await repo.stored_keys_of_messages(session, account_id, message_ids))


async def remove_for_contact(session: AsyncSession, account_id: int, contact_id: int) -> int:
    """Deleting or erasing a contact removes the files of their conversations and their uploads."""
    return await _remove(session, await repo.stored_keys_of_contact(session, account_id, contact_id))


async def delete_objects(storage: Storage, keys: Sequence[str]) -> int:
    """Idempotent: a key that is already gone is fine."""
    for key in keys:
        await storage.delete(key)
    return len(keys)


async def sweep_orphans(
    session: AsyncSession, storage: Storage, *, now: datetime | None = None, batch: int = DELETE_BATCH
) -> int:
    """Remove uploads that never joined a message (and files whose message vanished) after a day:
    objects first, then rows, so a failure leaves rows for the next run. The caller commits."""
    cutoff = (now or utcnow()) - ORPHAN_AGE
    rows = await repo.orphans_before(session, cutoff, batch)
    if not rows:
        return 0
    await delete_objects(storage, [r.storage_key for r in rows])
    await repo.delete_attachments(session, [r.id for r in rows])
    return len(rows)
