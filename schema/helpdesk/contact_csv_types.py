"""Types of contact CSV import and export."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from schema.core.ids import encode_id
from schema.helpdesk.errors import HelpdeskError


@strawberry.enum(description="Where a contact import is.")
class ContactImportStatus(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@strawberry.type(description="A row of the file that was refused (or, on row 1, a column that was ignored).")
class ContactImportRowError:
    row: int = strawberry.field(description="Its row number as a spreadsheet shows it; the header is row 1.")
    field: str | None = strawberry.field(description="The column at fault (camelCase field name), or null.")
    code: str = strawberry.field(
        description="INVALID_EMAIL, INVALID_PHONE, TOO_LONG, UNKNOWN_LABEL, INVALID_ATTRIBUTE, REQUIRED, TAKEN, "
        "DUPLICATE_IN_FILE or UNKNOWN_COLUMN."
    )
    message: str = strawberry.field(description="A human-readable explanation.")


@strawberry.type(description="A CSV import of contacts and its progress.")
class ContactImport:
    pk: strawberry.Private[int]
    status: ContactImportStatus = strawberry.field(description="QUEUED, RUNNING, DONE or FAILED.")
    dry_run: bool = strawberry.field(description="Whether it only checks the file and writes no contact.")
    total: int = strawberry.field(description="Data rows in the file (blank rows not counted).")
    processed: int = strawberry.field(description="Data rows read so far; grows batch by batch.")
    created: int = strawberry.field(description="Contacts created (or, on a dry run, that would be).")
    updated: int = strawberry.field(description="Existing contacts changed (or that would be).")
    unchanged: int = strawberry.field(description="Rows that match a contact that already holds their values.")
    failed: int = strawberry.field(description="Rows refused; see `errors`.")
    errors: list[ContactImportRowError] = strawberry.field(description="The first 1,000 refused rows and columns.")
    created_at: datetime = strawberry.field(description="When it was asked for.")
    finished_at: datetime | None = strawberry.field(description="When it finished (or failed).")

    @strawberry.field(description="Opaque global ID.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("ContactImport", self.pk))

    @classmethod
    def from_row(cls, row) -> ContactImport:
        return cls(
            pk=row.id,
            status=ContactImportStatus(row.status.value if hasattr(row.status, "value") else row.status),
            dry_run=row.dry_run,
            total=row.total,
            processed=row.processed,
            created=row.created,
            updated=row.updated,
            unchanged=row.unchanged,
            failed=row.failed,
            errors=[ContactImportRowError(**e) for e in row.errors],
            created_at=row.created_at,
            finished_at=row.finished_at,
        )


@strawberry.type(description="The result of contactsImport.")
class ContactsImportPayload:
    contact_import: ContactImport | None = strawberry.field(description="The import, QUEUED until a worker runs it.")
    errors: list[HelpdeskError] = strawberry.field(description="Why nothing was queued.")


@strawberry.type(description="The result of contactsExport.")
class ContactsExportPayload:
    row_count: int = strawberry.field(description="Contacts written (without the header).")
    download_url: str | None = strawberry.field(description="A short-lived link to the CSV.")
    errors: list[HelpdeskError] = strawberry.field(description="Why nothing was written.")
