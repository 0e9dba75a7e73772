"""Privacy: the contact data export job."""

from __future__ import annotations

from domain.privacy import export
from domain.storage import get_storage
from infra.logs import get_logger
from workers.broker import parley_actor
from workers.runtime import resources, unit_of_work

log = get_logger("parley.privacy")


@parley_actor(name="privacy.contact_export", queue="default", max_retries=3, time_limit_ms=30 * 60_000)
async def privacy_contact_export(export_id: int, outbox_id: int | None = None) -> None:
    """Build one contact's data ZIP in storage, then mark the export done (audited); a retry builds it
    again under the same key, and a finished export is left alone."""
    res = resources()
    try:
        built = await export.run(res.sessions, unit_of_work, get_storage(res.settings), export_id)
    except Exception:
        async with res.sessions() as session:
            await export.fail(session, export_id, "The export could not be written; it will be retried.")
            await session.commit()
        raise
    if built:
        log.info("privacy.contact_exported", export_id=export_id)
