"""A contact's data export: an administrator asks for it, a worker job builds one ZIP in storage, and
the export's signed download link is short-lived (as contactsExport's).

The ZIP holds `contact.json` (the contact, attributes, labels, inbox identities, notes about them),
`conversations.json` (each conversation with its messages, private notes included, and CSAT answers),
`audit.json` (the audit rows about the contact and a manifest of what this export holds) and
`attachments/<id>-<file name>`, read from storage."""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import ContactDataExport
from db.repositories import helpdesk as helpdesk_repo
from db.repositories import privacy as repo
from domain import audit
from domain.accounts.actor import Actor
from domain.audit import RequestMeta
from domain.errors import NotFound
from domain.events import outbox
from domain.privacy.enums import DataExportStatus
from domain.storage import Storage

ACTOR = "privacy.contact_export"
CONTENT_TYPE = "application/zip"
CHUNK = 1 << 20


async def request(session: AsyncSession, actor: Actor, contact_id: int, meta: RequestMeta) -> ContactDataExport:
    account_id = actor.require_account_id()
    contact = await helpdesk_repo.contact_in_account(session, account_id, contact_id)
    if contact is None:
        raise NotFound("No such contact")
    row = ContactDataExport(account_id=account_id, contact_id=contact.id, requester_id=actor.user_id)
    session.add(row)
    await session.flush()
    audit.record(session, actor, "contact.data_export", "Contact", contact.id, {"exportId": row.id}, meta)
    outbox.add_job(session, ACTOR, export_id=row.id)
    return row


async def visible(session: AsyncSession, actor: Actor, export_id: int) -> ContactDataExport:
    row = await repo.export_in_account(session, actor.require_account_id(), export_id)
    if row is None:
        raise NotFound("No such contact data export")
    return row


def storage_key(row: ContactDataExport) -> str:
    return f"accounts/{row.account_id}/privacy/contact-{row.contact_id}-export-{row.id}.zip"


def file_name(row: ContactDataExport) -> str:
    return f"contact-{row.contact_id}-data.zip"


async def download_url(storage: Storage, row: ContactDataExport, expires_in: int) -> str | None:
    if row.status != DataExportStatus.DONE or row.storage_key is None:
        return None
    return await storage.download_url(
        row.storage_key, file_name=file_name(row), content_type=CONTENT_TYPE, expires_in=expires_in
    )


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return getattr(value, "value", value)


def _row(obj: Any, columns: tuple[str, ...]) -> dict[str, Any]:
    return {name: _plain(getattr(obj, name)) for name in columns}


async def collect(session: AsyncSession, account_id: int, contact_id: int) -> dict[str, Any] | None:
    """Everything the account holds about the contact, as JSON-ready documents (and its attachments)."""
    contact = await helpdesk_repo.contact_in_account(session, account_id, contact_id)
    if contact is None:
        return None
    conversations = await repo.conversations_of(session, account_id, contact_id)
    messages = await repo.messages_of(session, account_id, contact_id)
    files = await repo.attachments_of(session, account_id, contact_id)
    csat = await repo.csat_of(session, account_id, contact_id)
    by_conversation: dict[int, list[dict[str, Any]]] = {}
    files_of: dict[int, list[int]] = {}
    for f in files:
        if f.message_id is not None:
            files_of.setdefault(f.message_id, []).append(f.id)
    for m in messages:
        by_conversation.setdefault(m.conversation_id, []).append(
            {
                **_row(
                    m, ("id", "message_type", "content", "private", "sender_type", "content_attributes", "created_at")
                ),
                "attachment_ids": files_of.get(m.id, []),
            }
        )
    csat_of: dict[int, list[dict[str, Any]]] = {}
    for c in csat:
        csat_of.setdefault(c.conversation_id, []).append(_row(c, ("id", "rating", "feedback", "created_at")))
    contact_doc = {
        **_row(
            contact,
            (
                "id",
                "name",
                "email",
                "phone_number",
                "identifier",
                "contact_type",
                "blocked",
                "additional_attributes",
                "custom_attributes",
                "last_activity_at",
                "created_at",
                "updated_at",
                "erased_at",
            ),
        ),
        "labels": await repo.labels_of(session, account_id, contact_id),
        "inbox_identities": [
            _row(i, ("inbox_id", "source_id", "hmac_verified", "created_at"))
            for i in await repo.identities_of(session, account_id, contact_id)
        ],
        "notes": [
            _row(n, ("id", "content", "user_id", "created_at"))
            for n in await repo.notes_of(session, account_id, contact_id)
        ],
    }
    conversation_docs = [
        {
            **_row(
                c,
                ("id", "display_id", "status", "priority", "additional_attributes", "custom_attributes", "created_at"),
            ),
            "inbox": inbox_name,
            "messages": by_conversation.get(c.id, []),
            "csat": csat_of.get(c.id, []),
        }
        for c, inbox_name in conversations
    ]
    audit_rows = [
        _row(a, ("id", "action", "actor_label", "changes", "created_at"))
        for a in await repo.audit_of_contact(session, account_id, contact_id)
    ]
    return {
        "contact": contact_doc,
        "conversations": conversation_docs,
        "audit": audit_rows,
        "files": [(f.id, f.file_name, f.storage_key, f.content_type, f.byte_size) for f in files],
    }


def _arc_name(file_id: int, name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "._- " else "_" for c in name).strip() or "file"
    return f"attachments/{file_id}-{safe[:120]}"


async def build_zip(storage: Storage, data: dict[str, Any], now: datetime) -> tuple[Any, dict[str, Any]]:
    """The ZIP in a spooled temporary file (memory up to 8 MB, then disk) and the manifest it holds."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)
    included: list[dict[str, Any]] = []
    missing: list[int] = []
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file_id, name, key, content_type, size in data["files"]:
            if await storage.head(key) is None:
                missing.append(file_id)
                continue
            arc = _arc_name(file_id, name)
            archive.writestr(arc, await storage.read_prefix(key, size))
            included.append(
                {"id": file_id, "path": arc, "fileName": name, "contentType": content_type, "byteSize": size}
            )
        manifest = {
            "exportedAt": now.isoformat(),
            "contactId": data["contact"]["id"],
            "conversations": len(data["conversations"]),
            "messages": sum(len(c["messages"]) for c in data["conversations"]),
            "notes": len(data["contact"]["notes"]),
            "csatResponses": sum(len(c["csat"]) for c in data["conversations"]),
            "attachments": included,
            "attachmentsMissingFromStorage": missing,
        }

        def dump(name: str, doc: Any) -> None:
            archive.writestr(name, json.dumps(doc, ensure_ascii=False, indent=2, default=str))

        dump("contact.json", data["contact"])
        dump("conversations.json", data["conversations"])
        dump("audit.json", {"export": manifest, "auditLog": data["audit"]})
    spool.seek(0)
    return spool, manifest


async def chunks_of(spool: Any) -> AsyncIterator[bytes]:
    while block := spool.read(CHUNK):
        yield block


async def start(session: AsyncSession, export_id: int) -> ContactDataExport | None:
    row = await repo.export_by_id(session, export_id, lock=True)
    if row is None or row.status == DataExportStatus.DONE:
        return None
    row.status = DataExportStatus.RUNNING
    await session.flush()
    return row


async def finish(session: AsyncSession, export_id: int, *, key: str, byte_size: int, manifest: dict[str, Any]) -> None:
    row = await repo.export_by_id(session, export_id, lock=True)
    if row is None:
        return
    row.status = DataExportStatus.DONE
    row.storage_key = key
    row.byte_size = byte_size
    row.finished_at = utcnow()
    summary = {k: v for k, v in manifest.items() if k not in ("attachments",)} | {
        "attachments": len(manifest["attachments"])
    }
    audit.record(
        session,
        Actor(user_id=row.requester_id, account_id=row.account_id, label="privacy.contact_export"),
        "contact.data_export_completed",
        "Contact",
        row.contact_id,
        {"exportId": row.id, **summary},
    )
    await session.flush()


async def fail(session: AsyncSession, export_id: int, reason: str) -> None:
    row = await repo.export_by_id(session, export_id, lock=True)
    if row is not None:
        row.status = DataExportStatus.FAILED
        row.error = reason[:255]
        row.finished_at = utcnow()
        await session.flush()


async def run(sessions: Callable[[], Any], unit: Callable[[], Any], storage: Storage, export_id: int) -> bool:
    """The job: read, build, store, finish. A contact gone since the request fails the export."""
    async with sessions() as session:
        row = await start(session, export_id)
        await session.commit()
        if row is None:
            return False
        data = await collect(session, row.account_id, row.contact_id) if row.contact_id is not None else None
    if data is None:
        async with sessions() as session:
            await fail(session, export_id, "The contact no longer exists.")
            await session.commit()
        return False
    now = utcnow()
    spool, manifest = await build_zip(storage, data, now)
    key = storage_key(row)
    with spool:
        size = await storage.put_stream(key, chunks_of(spool), content_type=CONTENT_TYPE)
    async with unit() as session:
        await finish(session, export_id, key=key, byte_size=size, manifest=manifest)
    return True
