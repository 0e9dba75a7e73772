"""Resolvers of contact CSV import and export: parse input, call one domain service, build the result."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from domain.helpdesk import contact_csv
from resolvers.context import Context
from resolvers.mutations import mutate
from schema.core.errors import PayloadErrors
from schema.core.ids import decode_id
from schema.helpdesk import contact_csv_types as t
from schema.helpdesk.errors import HelpdeskError, HelpdeskErrorCode

Ctx = Info[Context, None]
_errors = PayloadErrors(HelpdeskError, HelpdeskErrorCode)

CsvArg = Annotated[
    str,
    strawberry.argument(description="The CSV text (UTF-8, a header row first); the request body limit caps its size."),
]
DryRunArg = Annotated[
    bool, strawberry.argument(description="Check every row and count what would change, writing no contact.")
]
LabelArg = Annotated[str | None, strawberry.argument(description="Only contacts with this label (by title).")]
SearchArg = Annotated[
    str | None, strawberry.argument(description="Only contacts whose name, email, phone or identifier match.")
]
ImportID = Annotated[strawberry.ID, strawberry.argument(description="The import's global ID.")]


async def contacts_import(info: Ctx, csv: CsvArg, dry_run: DryRunArg = False) -> t.ContactsImportPayload:
    from domain.storage import get_storage

    actor = await info.context.actor()
    data = csv.encode()

    async def work(session) -> t.ContactsImportPayload:
        row = await contact_csv.create_import(
            session,
            account_id=actor.require_account_id(),
            user_id=actor.user_id,
            data=data,
            dry_run=dry_run,
            storage=get_storage(info.context.settings),
        )
        return t.ContactsImportPayload(contact_import=t.ContactImport.from_row(row), errors=[])

    return await mutate(info, _errors, work, lambda e: t.ContactsImportPayload(contact_import=None, errors=e))


async def contact_import(info: Ctx, id: ImportID) -> t.ContactImport:
    actor = await info.context.actor()
    async with info.context.db() as session:
        row = await contact_csv.import_visible(session, actor, decode_id(id, "ContactImport"))
    return t.ContactImport.from_row(row)


async def contacts_export(info: Ctx, label: LabelArg = None, search: SearchArg = None) -> t.ContactsExportPayload:
    from domain.storage import get_storage

    actor = await info.context.actor()
    settings = info.context.settings

    async def work(session) -> t.ContactsExportPayload:
        count, url = await contact_csv.export_contacts(
            session,
            get_storage(settings),
            actor,
            label=label,
            search=search,
            expires_in=settings.reports_export_url_expires_seconds,
        )
        return t.ContactsExportPayload(row_count=count, download_url=url, errors=[])

    return await mutate(
        info, _errors, work, lambda e: t.ContactsExportPayload(row_count=0, download_url=None, errors=e)
    )
