"""Reports: the reporting consumer of the event log and the export job."""

from __future__ import annotations

from domain.reports import exports, recorder
from infra.logs import get_logger
from workers.broker import parley_actor
from workers.runtime import resources, unit_of_work

log = get_logger("parley.reports")


@parley_actor(name="reports.record", queue="reports", max_retries=10, time_limit_ms=60_000)
async def reports_record(event_ids: list[int], outbox_id: int | None = None) -> None:
    """Reporting events and roll-ups of these event-log events (idempotent: unique per event and name)."""
    async with unit_of_work() as session:
        count = await recorder.record(session, event_ids)
    if count:
        log.debug("reports.recorded", count=count)


@parley_actor(name="reports.export", queue="reports", max_retries=3, time_limit_ms=30 * 60_000)
async def reports_export(export_id: int, outbox_id: int | None = None) -> None:
    """Stream one export's CSV to storage, then mark it done and record `report_export.completed`."""
    from domain.storage import get_storage

    res = resources()
    async with res.sessions() as session:
        export = await exports.start(session, export_id)
        await session.commit()
    if export is None:
        return
    key = exports.storage_key(export)
    counter = exports.Counter()
    try:
        storage = get_storage(res.settings)
        await storage.put_stream(
            key,
            exports.chunks(res.sessions, export, counter, batch_rows=res.settings.reports_export_batch_rows),
            content_type=exports.CONTENT_TYPE,
        )
    except Exception:
        async with res.sessions() as session:
            await exports.fail(session, export_id, "The export could not be written; it will be retried.")
            await session.commit()
        raise
    async with unit_of_work() as session:
        await exports.finish(session, export_id, row_count=counter.rows, key=key)
