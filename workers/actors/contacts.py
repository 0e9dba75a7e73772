"""Contacts: the CSV import job."""

from __future__ import annotations

from domain.helpdesk import contact_csv
from infra.logs import get_logger
from workers.broker import parley_actor
from workers.runtime import resources, unit_of_work

log = get_logger("parley.contacts")


@parley_actor(name="contacts.import", queue="default", max_retries=3, time_limit_ms=30 * 60_000)
async def contacts_import(import_id: int, outbox_id: int | None = None) -> None:
    """Read one import's CSV from storage and write it batch by batch, each batch with its counts in one
    commit; a retry resumes after the last committed batch."""
    from db.models import ContactImport
    from domain.storage import get_storage

    res = resources()
    async with res.sessions() as session:
        row = await session.get(ContactImport, import_id)
        if row is None or row.file_key is None:
            return
        data = await contact_csv.read_file(get_storage(res.settings), row)
    try:
        done = await contact_csv.run_import(unit_of_work, import_id, data)
    except Exception:
        await contact_csv.fail(unit_of_work, import_id)
        raise
    if done is not None:
        log.info("contacts.imported", import_id=import_id, processed=done.processed, failed=done.failed)
