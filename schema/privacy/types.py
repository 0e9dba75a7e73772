"""Types of the privacy duties."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from schema.core.ids import encode_id
from schema.helpdesk.types import Contact
from schema.privacy.errors import PrivacyError


@strawberry.enum(description="Where a contact data export is.")
class ContactDataExportStatus(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@strawberry.type(description="A ZIP of everything the account holds about one contact, built by a worker.")
class ContactDataExport:
    pk: strawberry.Private[int]
    contact_pk: strawberry.Private[int | None]
    status: ContactDataExportStatus = strawberry.field(description="QUEUED, RUNNING, DONE or FAILED.")
    byte_size: int = strawberry.field(description="The ZIP's size in bytes once DONE.")
    error: str | None = strawberry.field(description="Why it FAILED.")
    created_at: datetime = strawberry.field(description="When it was asked for.")
    finished_at: datetime | None = strawberry.field(description="When it finished (or failed).")
    download_url: str | None = strawberry.field(
        description="A short-lived signed link to the ZIP once DONE (contact.json, conversations.json, audit.json "
        "and attachments/); ask again for a fresh one."
    )

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("ContactDataExport", self.pk))

    @strawberry.field(description="The exported contact's global ID (null once the contact is deleted).")
    def contact_id(self) -> strawberry.ID | None:
        return None if self.contact_pk is None else strawberry.ID(encode_id("Contact", self.contact_pk))

    @classmethod
    def from_row(cls, row, download_url: str | None = None) -> ContactDataExport:
        return cls(
            pk=row.id,
            contact_pk=row.contact_id,
            status=ContactDataExportStatus(getattr(row.status, "value", row.status)),
            byte_size=row.byte_size,
            error=row.error,
            created_at=row.created_at,
            finished_at=row.finished_at,
            download_url=download_url,
        )


@strawberry.type(description="The result of contactDataExport.")
class ContactDataExportPayload:
    contact_data_export: ContactDataExport | None = strawberry.field(
        description="The export, QUEUED until a worker builds it; poll contactDataExportJob."
    )
    errors: list[PrivacyError] = strawberry.field(description="Why nothing was queued.")


@strawberry.type(description="The result of contactErase.")
class ContactErasePayload:
    contact: Contact | None = strawberry.field(description="The anonymised contact (its row stays for reports).")
    erased_at: datetime | None = strawberry.field(description="When it was erased.")
    errors: list[PrivacyError] = strawberry.field(description="Why nothing was erased.")


@strawberry.type(description="How long the account keeps messages and files; null keeps them for ever.")
class RetentionPolicy:
    message_days: int | None = strawberry.field(
        description="Messages older than this many days lose their content and files (their rows stay for reports)."
    )
    attachment_days: int | None = strawberry.field(description="Files older than this many days are deleted.")

    @classmethod
    def from_row(cls, account) -> RetentionPolicy:
        return cls(message_days=account.retention_message_days, attachment_days=account.retention_attachment_days)


@strawberry.input(description="Change the retention policy; an omitted field stays, null lifts it.")
class RetentionPolicyUpdateInput:
    message_days: int | None = strawberry.field(default=strawberry.UNSET, description="1 to 36,500 days, or null.")
    attachment_days: int | None = strawberry.field(default=strawberry.UNSET, description="1 to 36,500 days, or null.")


@strawberry.type(description="The result of retentionPolicyUpdate.")
class RetentionPolicyUpdatePayload:
    retention_policy: RetentionPolicy | None = strawberry.field(description="The policy now.")
    errors: list[PrivacyError] = strawberry.field(description="Why nothing changed.")
